"""The registry of benchmark datasets: :data:`DATASETS` and :func:`load_dataset`, which dispatches
to each dataset's loader (:mod:`.hotpot`, :mod:`.manuals`, :mod:`.longbench`, :mod:`.niah`, :mod:`.ruler`).

The types they build live in :mod:`.bench_types` (re-exported here); where the input data lives
is :mod:`.data_paths`.
"""

from __future__ import annotations

from collections.abc import Callable

from ...counting import CountFn
from ...errors import InputError
from .hotpot import hotpot_corpus_dataset, hotpot_long_dataset
from .longbench import load_longbench
from .manuals import manuals_dataset
from .niah import niah_dataset
from .ruler import ruler_dataset
from .types import (
    BenchDataset,
    BenchQuestion,
    DocGroup,
    doc_fingerprint,
    length_label,
    parse_length,
    path_fingerprint,
    sections_document,
)

__all__ = [
    "DATASETS",
    "load_dataset",
    # re-exported from .bench_types
    "BenchQuestion",
    "DocGroup",
    "BenchDataset",
    "doc_fingerprint",
    "path_fingerprint",
    "parse_length",
    "length_label",
    "sections_document",
]

DATASETS = ("hotpotqa-long", "hotpotqa-corpus", "manuals", "longbench", "niah", "ruler")


def _longbench(data: str | None, task: str | None) -> BenchDataset:
    if data is None:
        raise InputError("longbench needs --data PATH to a LongBench v1 JSONL file (e.g. hotpotqa.jsonl)")
    return load_longbench(data, task)


def load_dataset(
    name: str,
    count: CountFn,
    *,
    data: str | None = None,
    length: str | int = "8k",
    seed: int = 0,
    subset: str | None = None,
    task: str | None = None,
    misleading_titles: bool = False,
) -> BenchDataset:
    """Build the dataset ``name`` (one of :data:`DATASETS`) deterministically.

    ``count`` measures tokens with the generator's tokenizer (haystack sizes). ``data`` is the
    data folder holding ``hotpotqa/`` and ``manuals/`` (default: ``$H2MT_DATA``), or one
    dataset's input file (HotpotQA JSONL, manual QA JSONL, LongBench JSONL, or the niah
    haystack source); ``subset`` picks one manual (``bash``/``postgres``); ``task`` names the
    LongBench task when the file name does not; ``misleading_titles`` (hotpotqa-long) gives every
    paragraph another paragraph's title.
    """
    loaders: dict[str, Callable[[], BenchDataset]] = {
        "hotpotqa-long": lambda: hotpot_long_dataset(data, parse_length(length), count, seed, misleading_titles),
        "hotpotqa-corpus": lambda: hotpot_corpus_dataset(data, seed),
        "manuals": lambda: manuals_dataset(data, subset),
        "longbench": lambda: _longbench(data, task),
        "niah": lambda: niah_dataset(data, parse_length(length), count, seed),
        "ruler": lambda: ruler_dataset(data, parse_length(length), count, seed, task),
    }
    if name not in loaders:
        raise InputError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name]()
