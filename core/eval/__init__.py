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
    "BenchOptions": "h2mt.eval.runner",
    "run_bench": "h2mt.eval.runner",
    "BenchDataset": "h2mt.eval.datasets.types",
    "BenchQuestion": "h2mt.eval.datasets.types",
    "DocGroup": "h2mt.eval.datasets.types",
    "DATASETS": "h2mt.eval.datasets.registry",
    "load_dataset": "h2mt.eval.datasets.registry",
    "make_methods": "h2mt.eval.methods.registry",
    "Decoding": "h2mt.eval.decoding",
    "bench_decoding": "h2mt.eval.decoding",
    "Selection": "h2mt.eval.methods.base",
    "GroupView": "h2mt.eval.methods.base",
    "write_report": "h2mt.eval.publish",
    "summarize": "h2mt.eval.report",
    "data_dir": "h2mt.eval.datasets.paths",
    "PrefillBenchOptions": "h2mt.eval.prefill_bench",
    "run_prefill_bench": "h2mt.eval.prefill_bench",
    "run_reliability": "h2mt.eval.reliability",
    "make_niah": "h2mt.eval.datasets.niah",
    "NiahSpec": "h2mt.eval.datasets.niah",
    "make_ruler": "h2mt.eval.datasets.ruler",
    "RulerSpec": "h2mt.eval.datasets.ruler",
    "load_longbench": "h2mt.eval.datasets.longbench",
    "truncate_middle": "h2mt.eval.datasets.longbench",
    "build_prompt": "h2mt.eval.datasets.longbench",
}

__all__ = [
    "answer_contained", "best_f1", "bootstrap_ci", "evidence_kept", "normalise", "normalize_answer",
    "qa_f1_score", "titles_kept", *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the heavier parts on first access."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'h2mt.eval' has no attribute {name!r}")
