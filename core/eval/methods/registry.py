"""The registry of compared methods: a method name (or a name pattern, ``h2mt-bK``) -> its factory.

Every method runs over the same chunks (the h2mt index's leaves) and token budget, and its
kept leaves are presented with :func:`h2mt.query.prompt.format_context`:

- ``full``, ``truncation``, ``bm25``, ``dense``: the flat baselines (:mod:`.flat`);
- ``llmlingua``: LongLLMLingua compression of the leaves to the budget (:mod:`.llmlingua`);
- ``hmt``: the whole document read through HMT (:mod:`.hmt`);
- ``h2mt-bK``: h2mt routing with beam width K; ``h2mt`` expands to one per ``beams`` (:mod:`.h2mt`);
- ``h2mt-blocks``, ``h2mt-kv[-fK][-rNN][-a][-cold]``: the blocks layout as text, and kv prefill from the
  leaf KV store with its recompute settings and, with ``-a``, the shipped block-attention adapter (:mod:`.kv`);
- ``h2mt-memory``, ``h2mt-hybrid``, ``h2mt-hybridN``, their ``-titles`` ablations and
  ``h2mt-mwXX``: HMT node memories (:mod:`.memory`), opt-in.

Adding a method: one :class:`~.base.MethodBase` subclass in its family's module plus one
:class:`MethodEntry` in :data:`REGISTRY` (docs/architecture.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError
from .base import GroupView, Method, MethodBase, MethodUnavailable, Selection
from .flat import BM25TopK, DenseTopK, FullContext, RRFTopK, Truncation
from .h2mt import H2MTRoute
from .hmt import HMTMethod
from .kv import BlocksTextMethod, KVPrefillMethod
from .llmlingua import LongLLMLinguaMethod
from .memory import MemoryPrefillMethod, MemoryRouteMethod

__all__ = ["METHOD_NAMES", "REGISTRY", "MethodEntry", "MethodSettings", "known_methods", "make_methods",
           # re-exported from .base
           "Selection", "GroupView", "Method", "MethodBase", "MethodUnavailable"]

METHOD_NAMES = ("full", "truncation", "bm25", "dense", "rrf", "llmlingua", "h2mt")
"""The methods ``h2mt bench`` compares by default."""

MAX_TEXT_LEAVES = 32  # h2mt-hybridN: N text leaves at most


@dataclass(frozen=True)
class MethodSettings:
    """What a factory may use besides the name: the bench run's method options."""

    beams: tuple[int, ...] = (2, 4, 8)  # h2mt: one row per beam width
    llmlingua: Mapping[str, Any] = field(default_factory=dict)  # LongLLMLinguaMethod's arguments
    hmt_weights: str | None = None  # HMT memory folder of the memory methods and hmt (None: the shipped one)
    memory_cache: str | None = None  # folder where made node memories are kept


Factory = Callable[[re.Match[str], MethodSettings], list[Method]]


@dataclass(frozen=True)
class MethodEntry:
    """One family of names: ``pattern`` (a regular expression the whole name must match), how the
    names are ``shown`` in help and errors, and the ``factory`` making the methods of a name."""

    pattern: str
    shown: str
    factory: Factory


def _number(match: re.Match[str], group: str, low: int, high: int, what: str) -> int:
    value = int(match[group])
    if not low <= value <= high:
        raise InputError(f"Method {match[0]!r}: {what} must be {low}..{high}, got {value}")
    return value


def _h2mt(m: re.Match[str], s: MethodSettings) -> list[Method]:
    if m["beam"] is None:
        return [H2MTRoute(b) for b in s.beams]
    return [H2MTRoute(_number(m, "beam", 1, 1024, "the beam width"))]


def _memory_prefill(m: re.Match[str], s: MethodSettings) -> list[Method]:
    titles = m["titles"] is not None
    if m["hybrid"] is None:
        return [MemoryPrefillMethod("memory", s.hmt_weights, cache=s.memory_cache, titles_only=titles)]
    leaves = _number(m, "leaves", 1, MAX_TEXT_LEAVES, "the text leaves") if m["leaves"] else 1
    return [MemoryPrefillMethod("hybrid", s.hmt_weights, text_leaves=leaves, cache=s.memory_cache,
                                titles_only=titles)]


def _memory_route(m: re.Match[str], s: MethodSettings) -> list[Method]:
    weight = _number(m, "weight", 1, 100, "the memory weight (percent)") / 100
    return [MemoryRouteMethod(weight, s.hmt_weights, s.memory_cache)]


def _kv(m: re.Match[str], s: MethodSettings) -> list[Method]:
    first = _number(m, "first", 1, 4096, "the recomputed first tokens") if m["first"] else 0
    ratio = _number(m, "ratio", 1, 100, "the recomputed share (percent)") / 100 if m["ratio"] else 0.0
    return [KVPrefillMethod(first, ratio, cold=m["cold"] is not None, cache=s.memory_cache,
                            adapter="auto" if m["adapter"] else "off")]


REGISTRY: tuple[MethodEntry, ...] = (
    MethodEntry("full", "full", lambda m, s: [FullContext()]),
    MethodEntry("truncation", "truncation", lambda m, s: [Truncation()]),
    MethodEntry("bm25", "bm25", lambda m, s: [BM25TopK()]),
    MethodEntry("dense", "dense", lambda m, s: [DenseTopK()]),
    MethodEntry("rrf", "rrf", lambda m, s: [RRFTopK()]),
    MethodEntry("llmlingua", "llmlingua", lambda m, s: [LongLLMLinguaMethod(**s.llmlingua)]),
    MethodEntry("hmt", "hmt", lambda m, s: [HMTMethod(s.hmt_weights)]),
    MethodEntry(r"h2mt(?:-b(?P<beam>\d+))?", "h2mt, h2mt-bK", _h2mt),
    MethodEntry(r"h2mt-(?:memory|(?P<hybrid>hybrid)(?P<leaves>\d*))(?P<titles>-titles)?",
                "h2mt-memory, h2mt-hybrid, h2mt-hybridN, h2mt-memory-titles, h2mt-hybrid[N]-titles",
                _memory_prefill),
    MethodEntry(r"h2mt-mw(?P<weight>\d+)", "h2mt-mwXX", _memory_route),
    MethodEntry("h2mt-blocks", "h2mt-blocks", lambda m, s: [BlocksTextMethod()]),
    MethodEntry(r"h2mt-kv(?:-f(?P<first>\d+))?(?:-r(?P<ratio>\d+))?(?P<adapter>-a)?(?P<cold>-cold)?",
                "h2mt-kv, h2mt-kv-fK, h2mt-kv-rNN, h2mt-kv-fK-rNN, ...-a (shipped adapter), ...-cold", _kv),
)
"""Every method family, in the order ``h2mt bench`` lists them."""


def known_methods() -> str:
    """The method names (and name patterns) ``make_methods`` takes, comma-separated."""
    return ", ".join(e.shown for e in REGISTRY)


def make_methods(names: Sequence[str], beams: Sequence[int], llmlingua: Mapping[str, Any] | None = None,
                 hmt_weights: str | None = None, memory_cache: str | None = None) -> list[Method]:
    """Method objects for ``names`` (``h2mt`` expands to one per beam width; ``h2mt-b4`` also works;
    the memory methods and ``hmt`` read ``hmt_weights``, default: the shipped memory, and made node
    memories are kept in ``memory_cache``). An unknown name raises :class:`InputError` (one line
    listing the known names)."""
    settings = MethodSettings(tuple(beams), dict(llmlingua or {}), hmt_weights, memory_cache)
    out: list[Method] = []
    for name in names:
        for entry in REGISTRY:
            match = re.fullmatch(entry.pattern, name)
            if match is not None:
                out.extend(entry.factory(match, settings))
                break
        else:
            raise InputError(f"Unknown method {name!r}; choose from {known_methods()}")
    return out
