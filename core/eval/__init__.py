"""Evaluation: datasets, compared methods, metrics, the benchmark runner and its report
(docs/architecture.md section 4). ``h2mt bench`` on the command line; ``run_bench(BenchOptions(...))`` here.
``h2mt bench-prefill`` (:mod:`.prefill_bench`) measures prefill cost, ``h2mt bench-reliability``
(:mod:`.reliability`) concurrency and memory. Benchmark data comes from ``--data DIR`` or
``$H2MT_DATA`` (:func:`data_dir`).

Importing this package is cheap: the runner, methods and loaders load on first access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .metrics import (
    answer_contained,
    best_f1,
    bootstrap_ci,
    evidence_kept,
    normalise,
    normalize_answer,
    qa_f1_score,
    titles_kept,
)

_LAZY = {
    "BenchOptions": "runner",
    "run_bench": "runner",
    "BenchDataset": "bench_types",
    "BenchQuestion": "bench_types",
    "DocGroup": "bench_types",
    "DATASETS": "datasets",
    "load_dataset": "datasets",
    "make_methods": "methods",
    "Selection": "method_base",
    "GroupView": "method_base",
    "write_report": "publish",
    "summarize": "report",
    "data_dir": "data_paths",
    "PrefillBenchOptions": "prefill_bench",
    "run_prefill_bench": "prefill_bench",
    "run_reliability": "reliability",
    "make_niah": "niah",
    "NiahSpec": "niah",
    "load_longbench": "longbench",
    "truncate_middle": "longbench",
    "build_prompt": "longbench",
}

__all__ = [
    "answer_contained", "best_f1", "bootstrap_ci", "evidence_kept", "normalise", "normalize_answer",
    "qa_f1_score", "titles_kept", *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the heavier parts on first access."""
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'h2mt.eval' has no attribute {name!r}")
