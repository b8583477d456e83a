"""Budget selection: the best-scoring leaves of a candidate pool that fit the token budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..types import Node, ScoredNode

__all__ = ["select_leaves", "by_sentences", "Excerpter"]

Excerpter = Callable[[Node, int], Node | None]
"""A leaf and the tokens left -> a shorter copy of the leaf that fits them, or None (:mod:`h2mt.query.excerpt`)."""


def select_leaves(
    nodes: Sequence[Node], pool: Mapping[int, float], budget: int, min_score: float | None = None,
    excerpt: Excerpter | None = None, fill: float = 1.0,
) -> list[ScoredNode]:
    """Best-scoring leaves of ``pool`` whose tokens fit ``budget``, in document order.

    Greedy by score; a leaf that does not fit is replaced by its ``excerpt`` when one is given and
    offers a copy that fits, else skipped, and smaller ones are tried.
    Ties break by document order so the result is deterministic.
    """
    left = budget
    kept: list[ScoredNode] = []
    for nid, s in sorted(pool.items(), key=lambda kv: (-kv[1], kv[0])):
        if min_score is not None and s < min_score:
            break
        node = nodes[nid]
        if node.tokens > fill * left and excerpt is not None:
            node = excerpt(node, left if node.tokens > left else int(fill * left)) or node
        if node.tokens <= left:
            kept.append(ScoredNode(node, s))
            left -= node.tokens
        if left <= 0:
            break
    kept.sort(key=lambda k: k.node.id)
    return kept


def by_sentences(pool: Sequence[ScoredNode], leaf_order: Sequence[int], budget: int) -> list[ScoredNode]:
    """The leaves of ``pool`` taken in ``leaf_order`` (indices into ``pool``, e.g. by each leaf's
    best-ranked sentence), then the rest in the pool's score order, the first that fit ``budget``;
    in document order. A leaf that does not fit what is left is skipped and smaller ones are tried.
    """
    first = list(dict.fromkeys(i for i in leaf_order if 0 <= i < len(pool)))
    taken = set(first)
    rest = sorted((i for i in range(len(pool)) if i not in taken), key=lambda i: (-pool[i].score, pool[i].node.id))
    left = budget
    kept: list[ScoredNode] = []
    for i in first + rest:
        if pool[i].node.tokens <= left:
            kept.append(pool[i])
            left -= pool[i].node.tokens
        if left <= 0:
            break
    kept.sort(key=lambda k: k.node.id)
    return kept
