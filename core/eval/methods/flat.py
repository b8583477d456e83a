"""The flat baselines: every method that treats the index's leaves as a flat list of chunks.

- ``full``: every leaf (no pruning; budget-independent);
- ``truncation``: LongBench's rule at leaf granularity: leading leaves up to half the budget,
  then trailing leaves with the rest;
- ``bm25``: ``bm25s`` over the leaves (section title + text, as embedded), tokenized by h2mt's own
  lexical tokenizer (:mod:`h2mt.index.lexical`), top-scored leaves until the budget is full, put
  back in document order;
- ``dense``: cosine of the index's own leaf embeddings (same encoder as h2mt) with the query;
- ``rrf``: hybrid search, the two above fused by reciprocal rank over every leaf
  (``1 / (RRF_K + rank)`` summed, k = 60 as in the original RRF paper).
"""

from __future__ import annotations

import time
from typing import Any

from ...index.lexical import query_terms
from ...query.fusion import RRF_K, ranks
from ...types import Node
from .base import GroupView, MethodBase, Selection, nodes_selection

__all__ = ["FullContext", "Truncation", "BM25TopK", "DenseTopK", "RRFTopK", "RRF_K", "flat_scores", "rrf"]


class FullContext(MethodBase):
    """Every leaf, in order."""

    name, budgeted, needs_encoder = "full", False, False

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """All leaves (``budget`` is ignored)."""
        t0 = time.perf_counter()
        return nodes_selection(list(view.leaves), 0, t0)


class Truncation(MethodBase):
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
        return nodes_selection(head + tail[::-1], 0, t0)


class BM25TopK(MethodBase):
    """``bm25s`` scores of every leaf; top leaves fill the budget."""

    name, budgeted, needs_encoder = "bm25", True, False

    def prepare(self, view: GroupView) -> None:
        """Index the chunks."""
        view.bm25  # noqa: B018 - builds and caches the retriever

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Top BM25 leaves in document order."""
        retriever = view.bm25  # built once per group (offline, like the h2mt index)
        t0 = time.perf_counter()
        q = query_terms(question)  # the question terms of h2mt's own BM25 (one tokenizer)
        scores = retriever.get_scores(q) if q else [0.0] * len(view.leaves)
        return nodes_selection(view.fill(scores, budget), len(view.leaves), t0)


class DenseTopK(MethodBase):
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
        return nodes_selection(view.fill((emb @ qv).tolist(), budget), len(view.leaves), t0)


def flat_scores(view: GroupView, question: str) -> tuple[Any, Any]:
    """The (L,) dense cosine and (L,) BM25 score of every leaf of ``view`` with ``question``."""
    import numpy as np

    qv = view.eng.encoder.encode([question])[0]  # (D,)
    q = query_terms(question)  # the question terms of h2mt's own BM25 (one tokenizer)
    lexical = np.asarray(view.bm25.get_scores(q)) if q else np.zeros(len(view.leaves))  # (L,)
    return view.embeddings @ qv, lexical


def rrf(*scores: Any) -> Any:
    """Reciprocal-rank fusion of (L,) score vectors: ``1 / (RRF_K + rank)`` summed, rank 0 = best."""
    import numpy as np

    fused = np.zeros(len(scores[0]))  # (L,)
    for s in scores:
        fused += 1.0 / (RRF_K + ranks(s))
    return fused


class RRFTopK(MethodBase):
    """Hybrid search: BM25 and dense ranks of every leaf fused by reciprocal rank; top leaves fill the budget."""

    name, budgeted, needs_encoder = "rrf", True, True

    def prepare(self, view: GroupView) -> None:
        """Index the chunks and gather the leaf embeddings."""
        view.bm25  # noqa: B018 - builds and caches the retriever
        view.embeddings  # noqa: B018 - caches the (L, D) matrix

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Top fused leaves in document order."""
        t0 = time.perf_counter()
        return nodes_selection(view.fill(rrf(*flat_scores(view, question)).tolist(), budget), len(view.leaves), t0)
