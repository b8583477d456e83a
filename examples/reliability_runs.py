"""Concurrency and memory measurements with the real embedded defaults (figures for docs/reliability.md).

    python examples/reliability_runs.py --index bash.h2mt

1. 8 threads x 25 queries share one loaded pipeline (routing for all, generation for
   every fifth); every result must equal its single-threaded result.
2. 500 consecutive routed queries, then 30 generated answers: resident memory (RSS)
   before and after, after a warm-up.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from h2mt import H2MT, H2MTConfig, PrefillConfig

QA = Path(__file__).resolve().parents[1].parent / "shared/data/manuals/manual_qa_dev.jsonl"


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--qa", default=str(QA))
    args = ap.parse_args()
    eng = H2MT.load(args.index, H2MTConfig(prefill=PrefillConfig(max_new_tokens=8)))
    qs = [q["question"] for q in map(json.loads, open(args.qa)) if q["manual"] == "bash-reference-manual"]

    def work(i: int) -> tuple:
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
    print(json.dumps({"concurrency": "8 threads x 25 queries", "equal": single == multi,
                      "single_thread_s": round(t_single, 1), "eight_threads_s": round(t_multi, 1)}))

    for i in range(50):
        eng.route(qs[i % len(qs)], budget=1024)
    gc.collect()
    r0 = rss_mib()
    for i in range(500):
        eng.route(qs[i % len(qs)] + f" ({i})", budget=1024)
    gc.collect()
    r1 = rss_mib()
    for i in range(30):
        eng.answer(qs[i % len(qs)], budget=512)
    gc.collect()
    r2 = rss_mib()
    print(json.dumps({"memory": "RSS MiB", "after_warmup": round(r0, 1), "after_500_routes": round(r1, 1),
                      "after_30_answers": round(r2, 1)}))


if __name__ == "__main__":
    main()
