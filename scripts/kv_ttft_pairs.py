"""Interleaved TTFT of text prefill (blocks layout) and kv prefill on the same questions and routes.

Each question is answered by every row back to back in one process, so the rows share the machine's
load: ``python scripts/kv_ttft_pairs.py RESULTS N BUDGET [METHODS]`` over a ``h2mt bench`` results
folder of hotpotqa-long 8k (its cached indexes and leaf KV store), default generator; METHODS are
bench method names, comma-separated (default: h2mt-blocks,h2mt-kv,h2mt-kv-r10,h2mt-kv-r25,h2mt-kv-cold);
rows go to ``RESULTS/ttft_pairs_BUDGET.jsonl``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from h2mt.backends import load_backend, load_counter
from h2mt.eval.datasets.types import BenchDataset
from h2mt.eval.indexes import make_encoder
from h2mt.eval.methods.base import GroupView
from h2mt.eval.methods.registry import make_methods
from h2mt.eval.runner import BenchOptions, open_engines
from h2mt.eval.worker import _warm_up, answer_row

DEFAULT = "h2mt-blocks,h2mt-kv,h2mt-kv-r10,h2mt-kv-r25,h2mt-kv-cold"


def main(results: str, n: int, budget: int, names: str = DEFAULT) -> None:
    folder = Path(results) / "hotpotqa-long-8k"
    ds = BenchDataset.load(folder / "dataset.json")
    opts = BenchOptions(results=results, model="qwen2.5-coder-0.5b", progress=False)
    backend, counter = load_backend(opts.backend_config()), load_counter(opts.backend_config())
    encoder = make_encoder(opts.encoder)
    cache = str(Path(results) / "cache")
    methods = make_methods(names.split(","), (8,), memory_cache=cache)
    questions = ds.questions[:n]
    _warm_up(backend)
    with open(Path(results) / f"ttft_pairs_{budget}.jsonl", "a", encoding="utf-8") as out:
        groups = list(dict.fromkeys(q.group for q in questions))
        for key, eng, _ in open_engines(ds, opts, groups, lambda: encoder, counter):
            view = GroupView(eng)
            for q in (q for q in questions if q.group == key):
                for m in methods:
                    out.write(json.dumps(answer_row(ds, q, m, budget, view, backend)) + "\n")
                    out.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
