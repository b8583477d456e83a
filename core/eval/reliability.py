"""Concurrency and memory measurements with the real embedded defaults (the figures of
docs/reliability.md): ``h2mt bench-reliability --index bash.h2mt``.

1. 8 threads x 25 queries share one loaded pipeline (routing for all, generation for every
   fifth); every result must equal its single-threaded result.
2. 500 consecutive routed queries, then 30 generated answers: resident memory (RSS) before
   and after, after a warm-up.

Questions are the Bash Reference Manual questions of the manual QA file.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..config import H2MTConfig, PrefillConfig
from ..errors import InputError
from .datasets.paths import MANUAL_QA_FILE, data_file

__all__ = ["bash_questions", "current_rss_bytes", "concurrency_run", "memory_run", "run_reliability"]


def current_rss_bytes() -> int:
    """Resident set size of this process now (``/proc/self/statm``; Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def bash_questions(data: str | None = None) -> list[str]:
    """The Bash manual's questions of the manual QA file (``data``: the file or the data folder)."""
    path = data_file(data, MANUAL_QA_FILE)
    if not path.is_file():
        raise InputError(f"Manual QA file not found at {path}; pass --data DIR (the folder holding manuals/) "
                         "or the file itself")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r["manual"] == "bash-reference-manual"]


def concurrency_run(eng: Any, qs: Sequence[str]) -> dict[str, Any]:
    """200 queries single-threaded, then the same 200 on 8 threads: equal results, wall times."""

    def work(i: int) -> tuple[Any, ...]:
        q = qs[i % len(qs)]
        if i % 5 == 0:
            a = eng.answer(q, budget=512)
            return tuple(s.node.id for s in a.sources), a.text
        r = eng.route(q, budget=1024)
        return tuple(k.node.id for k in r.kept), tuple(round(k.score, 9) for k in r.kept)

    work(0)
    t = time.perf_counter()
    single = [work(i) for i in range(200)]
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        multi = list(pool.map(work, range(200)))
    t_multi = time.perf_counter() - t
    return {"concurrency": "8 threads x 25 queries", "equal": single == multi,
            "single_thread_s": round(t_single, 1), "eight_threads_s": round(t_multi, 1)}


def memory_run(eng: Any, qs: Sequence[str]) -> dict[str, Any]:
    """RSS after a warm-up, after 500 routed queries, and after 30 generated answers."""
    for i in range(50):
        eng.route(qs[i % len(qs)], budget=1024)
    gc.collect()
    r0 = current_rss_bytes()
    for i in range(500):
        eng.route(qs[i % len(qs)] + f" ({i})", budget=1024)
    gc.collect()
    r1 = current_rss_bytes()
    for i in range(30):
        eng.answer(qs[i % len(qs)], budget=512)
    gc.collect()
    r2 = current_rss_bytes()
    return {"memory": "RSS MiB", "after_warmup": _mib(r0), "after_500_routes": _mib(r1), "after_30_answers": _mib(r2)}


def run_reliability(index: str | os.PathLike[str], data: str | None = None) -> list[dict[str, Any]]:
    """Both measurements on the index at ``index`` (generation: 8 new tokens)."""
    from ..engine import H2MT

    qs = bash_questions(data)
    if not qs:
        raise InputError("The manual QA file has no bash-reference-manual questions")
    eng = H2MT.load(Path(index), H2MTConfig(prefill=PrefillConfig(max_new_tokens=8)))
    return [concurrency_run(eng, qs), memory_run(eng, qs)]
