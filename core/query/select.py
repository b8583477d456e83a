"""Budget selection: the best-scoring leaves of a candidate pool that fit the token budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..types import Node, ScoredNode

__all__ = ["select_leaves"]


def select_leaves(
    nodes: Sequence[Node], pool: Mapping[int, float], budget: int, min_score: float | None = None
) -> list[ScoredNode]:
    """Best-scoring leaves of ``pool`` whose tokens fit ``budget``, in document order.

    Greedy by score; a leaf that does not fit is skipped and smaller ones are tried.
    Ties break by document order so the result is deterministic.
    """
    left = budget
    kept: list[ScoredNode] = []
    for nid, s in sorted(pool.items(), key=lambda kv: (-kv[1], kv[0])):
        if min_score is not None and s < min_score:
            break
        t = nodes[nid].tokens
        if t <= left:
            kept.append(ScoredNode(nodes[nid], s))
            left -= t
        if left <= 0:
            break
    kept.sort(key=lambda k: k.node.id)
    return kept
