"""The route's candidates ranked with flat search: reciprocal-rank fusion among the leaves it reached.

Over a whole manual asked in a user's own words, the route reaches the leaf that holds the answer
more often than it ranks it high enough to keep: its leaf score mixes a leaf's own match with its
section's (``parent_weight``), and a long section about something else drags a good leaf down.
Flat search ranks each leaf by its own text only. :func:`fuse_flat` re-orders the route's pool
(``RouteConfig.flat_fusion``):

1. :func:`flat_ranks`: every leaf's rank (0 = best) by its cosine with the question and by its
   leaf-level BM25 (the index's own lexical statistics, query terms' postings only);
2. :func:`fused_order`: each pool leaf scores ``1/(k + its rank in the route's pool)`` plus the same
   for its two flat ranks (k = :data:`RRF_K`), best first;
3. the ``flat_keep`` best leaves the route itself would keep stay ahead of that order: a leaf
   that a title or a link lifted (the section a question names, the bridge entity of a multi-hop
   question) usually ranks there, and a flat rank knows nothing of either;
4. the pool's scores are handed out again in the new order (the i-th leaf of the order gets the
   pool's i-th best score), so scores keep the route's scale and stay non-increasing in it.

Only the order inside the pool changes: no leaf the route never reached is added (adding the best
missed flat leaves loses more evidence than it finds; docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ..index.index import Index

__all__ = ["RRF_K", "ranks", "flat_ranks", "fused_order", "fuse_flat"]

RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al., 2009); h2mt bench's rrf baseline uses it too


def ranks(scores: np.ndarray) -> np.ndarray:
    """(L,) rank of each score, 0 = highest; ties by position."""
    import numpy as np

    out = np.empty(len(scores), dtype=np.int64)
    out[np.argsort(-np.asarray(scores), kind="stable")] = np.arange(len(scores))
    return out


def flat_ranks(index: Index, query_emb: np.ndarray, lex_cols: Any, lex_weights: np.ndarray,
               k1: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Every node's flat rank among the leaves by cosine and by leaf-level BM25, (N,) each (internal
    nodes: -1). ``lex_cols`` (CSR, N x Q) and ``lex_weights`` (Q,) are the question's term columns."""
    import numpy as np

    leaves = index.leaf_ids  # (L,)
    cosine = (index.embeddings @ query_emb)[leaves]  # (L,)
    bm25 = np.zeros(len(leaves), dtype=np.float32)  # (L,): 0 for leaves without any question term
    if lex_weights.size:
        holding = np.flatnonzero(np.diff(lex_cols.indptr)[leaves])  # (H,) positions in ``leaves``
        if holding.size:
            bm25[holding] = index.lexical.scores(lex_cols, lex_weights, leaves[holding].tolist(), k1, b)
    dense = np.full(len(index.nodes), -1, dtype=np.int64)
    lexical = np.full(len(index.nodes), -1, dtype=np.int64)
    dense[leaves] = ranks(cosine)
    lexical[leaves] = ranks(bm25)
    return dense, lexical


def fused_order(pool: Mapping[int, float], dense: np.ndarray, lexical: np.ndarray) -> list[int]:
    """The pool's leaves by ``1/(k + route rank) + 1/(k + dense rank) + 1/(k + lexical rank)``, best first
    (ties by node id)."""
    route_rank = {c: r for r, c in enumerate(sorted(pool, key=lambda c: (-pool[c], c)))}
    fused = {c: 1.0 / (RRF_K + r) + 1.0 / (RRF_K + dense[c]) + 1.0 / (RRF_K + lexical[c])
             for c, r in route_rank.items()}
    return sorted(fused, key=lambda c: (-fused[c], c))


def fuse_flat(pool: Mapping[int, float], first: list[int], dense: np.ndarray, lexical: np.ndarray) -> dict[int, float]:
    """``pool`` re-scored: the ``first`` leaves in their order, then the rest by
    :func:`fused_order`; the i-th leaf gets the pool's i-th best score."""
    head = [c for c in first if c in pool]
    taken = set(head)
    order = head + [c for c in fused_order(pool, dense, lexical) if c not in taken]
    scores = sorted(pool.values(), reverse=True)
    return dict(zip(order, scores, strict=True))
