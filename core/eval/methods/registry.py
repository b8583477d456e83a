"""The compared methods, all over the same chunks (the h2mt index's leaves) and token budget.

- ``full``: every leaf (no pruning; budget-independent);
- ``truncation``: LongBench's rule at leaf granularity: leading leaves up to half the
  budget, then trailing leaves with the rest;
- ``bm25``: ``bm25s`` over the leaves (section title + text, as embedded), top-scored leaves until the
  budget is full, put back in document order;
- ``dense``: cosine of the index's own leaf embeddings (same encoder as h2mt) with the query;
- ``llmlingua``: LongLLMLingua compression of the leaves to the budget (see :mod:`.llmlingua`);
- ``h2mt-bK``: h2mt coarse-to-fine routing with beam width K;
- ``h2mt-memory``, ``h2mt-hybrid``, ``h2mt-mwXX``: HMT node memories (see :mod:`.memory_methods`).

Kept leaves are presented with :func:`h2mt.query.prompt.format_context` for every method.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ...errors import InputError
from ...query.prompt import format_context
from ...types import Node
from .base import GroupView, Method, MethodUnavailable, Selection
from .hmt import HMTMethod
from .llmlingua import LongLLMLinguaMethod
from .memory import memory_method

__all__ = ["METHOD_NAMES", "make_methods", "FullContext", "Truncation", "BM25TopK", "DenseTopK", "H2MTRoute",
           # re-exported from .method_base
           "Selection", "GroupView", "Method", "MethodUnavailable"]

METHOD_NAMES = ("full", "truncation", "bm25", "dense", "llmlingua", "h2mt")
MEMORY_METHOD_NAMES = ("h2mt-memory", "h2mt-hybrid", "h2mt-hybridN", "h2mt-memory-titles", "h2mt-hybrid-titles",
                       "h2mt-mwXX")  # opt-in: need HMT weights for the generator


class _NoPrep:
    def prepare(self, view: GroupView) -> None:
        """Nothing to prepare."""


def _nodes_selection(nodes: list[Node], scored: int, t0: float) -> Selection:
    return Selection(nodes, format_context(nodes), sum(n.tokens for n in nodes), scored,
                     (time.perf_counter() - t0) * 1000.0)


class FullContext(_NoPrep):
    """Every leaf, in order."""

    name, budgeted, needs_encoder = "full", False, False

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """All leaves (``budget`` is ignored)."""
        t0 = time.perf_counter()
        return _nodes_selection(list(view.leaves), 0, t0)


class Truncation(_NoPrep):
    """Leading leaves up to half the budget, then trailing leaves with what is left."""

    name, budgeted, needs_encoder = "truncation", True, False

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Keep the first and last halves of the budget, in leaves."""
        t0 = time.perf_counter()
        head: list[Node] = []
        used = 0
        for n in view.leaves:
            if used + n.tokens > budget // 2:
                break
            head.append(n)
            used += n.tokens
        tail: list[Node] = []
        for n in reversed(view.leaves[len(head):]):
            if used + n.tokens > budget:
                break
            tail.append(n)
            used += n.tokens
        return _nodes_selection(head + tail[::-1], 0, t0)


class BM25TopK:
    """``bm25s`` scores of every leaf; top leaves fill the budget."""

    name, budgeted, needs_encoder = "bm25", True, False

    def prepare(self, view: GroupView) -> None:
        """Index the chunks."""
        view.bm25  # noqa: B018 - builds and caches the retriever

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Top BM25 leaves in document order."""
        import bm25s

        retriever = view.bm25  # built once per group (offline, like the h2mt index)
        t0 = time.perf_counter()
        q = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)[0]
        scores = retriever.get_scores(q) if q else [0.0] * len(view.leaves)
        return _nodes_selection(view.fill(scores, budget), len(view.leaves), t0)


class DenseTopK:
    """Cosine of the query embedding with every leaf embedding; top leaves fill the budget."""

    name, budgeted, needs_encoder = "dense", True, True

    def prepare(self, view: GroupView) -> None:
        """Gather the leaf embeddings."""
        view.embeddings  # noqa: B018 - caches the (L, D) matrix

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Top cosine leaves in document order."""
        emb = view.embeddings
        t0 = time.perf_counter()
        qv = view.eng.encoder.encode([question])[0]  # (D,)
        return _nodes_selection(view.fill((emb @ qv).tolist(), budget), len(view.leaves), t0)


class H2MTRoute(_NoPrep):
    """h2mt routing at a given beam width."""

    budgeted, needs_encoder = True, True

    def __init__(self, beam: int) -> None:
        self.beam = beam
        self.name = f"h2mt-b{beam}"

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Coarse-to-fine route; kept leaves in document order."""
        t0 = time.perf_counter()
        r = view.eng.route(question, budget=budget, beam_width=self.beam)
        return _nodes_selection([k.node for k in r.kept], r.nodes_scored, t0)


def make_methods(names: Sequence[str], beams: Sequence[int], llmlingua: dict[str, Any] | None = None,
                 hmt_weights: str | None = None, memory_cache: str | None = None) -> list[Method]:
    """Method objects for ``names`` (``h2mt`` expands to one per beam width; ``h2mt-b4`` also works;
    the memory methods read ``hmt_weights``, default: the shipped memory, and keep made node
    memories in ``memory_cache``)."""
    out: list[Method] = []
    for name in names:
        mem = memory_method(name, hmt_weights, memory_cache)
        if mem is not None:
            out.append(mem)
        elif name == "full":
            out.append(FullContext())
        elif name == "truncation":
            out.append(Truncation())
        elif name == "bm25":
            out.append(BM25TopK())
        elif name == "dense":
            out.append(DenseTopK())
        elif name == "llmlingua":
            out.append(LongLLMLinguaMethod(**(llmlingua or {})))
        elif name == "hmt":
            out.append(HMTMethod(hmt_weights))
        elif name == "h2mt":
            out.extend(H2MTRoute(b) for b in beams)
        elif name.startswith("h2mt-b") and name[6:].isdigit():
            out.append(H2MTRoute(int(name[6:])))
        else:
            raise InputError(f"Unknown method {name!r}; choose from {', '.join(METHOD_NAMES + MEMORY_METHOD_NAMES)}, hmt "
                             "(or h2mt-bK)")
    return out
