"""Bottom-up (post-order) memory embeddings: each internal node from its children and title."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import AggregateStrategy, HierarchyConfig
from ..types import Node, NodeKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["aggregate_children", "aggregate_tree"]


def aggregate_children(
    child_emb: np.ndarray,
    child_tokens: np.ndarray,
    title_emb: np.ndarray | None,
    strategy: AggregateStrategy,
    title_weight: float,
) -> np.ndarray:
    """Memory embedding of one internal node.

    ``child_emb`` (C, D) unit rows, ``child_tokens`` (C,), ``title_emb`` (D,) or None.
    Returns the unit-norm vector ``normalise(agg(children) + title_weight * title)``.
    """
    import numpy as np

    if strategy == AggregateStrategy.MAX:
        v = child_emb.max(axis=0)
    else:
        w = (
            child_tokens.astype(np.float64)
            if strategy == AggregateStrategy.LENGTH_WEIGHTED
            else np.ones(len(child_emb))
        )
        w = np.maximum(w, 1e-6)
        v = (w[:, None] * child_emb).sum(0) / w.sum()
        v = v / max(float(np.linalg.norm(v)), 1e-12)
    if title_emb is not None and title_weight > 0:
        v = v + title_weight * title_emb
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def aggregate_tree(
    nodes: Sequence[Node],
    leaf_emb: dict[int, np.ndarray] | np.ndarray,
    title_emb: dict[int, np.ndarray],
    cfg: HierarchyConfig,
) -> np.ndarray:
    """(N, D) memory embeddings for every node, computed in post-order.

    ``leaf_emb[node_id]`` holds each leaf's encoding; ``title_emb[node_id]`` the
    encoding of each titled internal node. Pre-order ids mean reverse id order is a
    valid post-order (children are always done before their parent).
    """
    import numpy as np

    dim = next(iter(title_emb.values())).shape[-1] if title_emb else leaf_emb[_first_leaf(nodes)].shape[-1]
    out = np.zeros((len(nodes), dim), dtype=np.float32)
    tokens = np.array([n.tokens for n in nodes], dtype=np.float64)
    for node in reversed(nodes):
        if node.kind == NodeKind.LEAF:
            out[node.id] = leaf_emb[node.id]
            continue
        kids = node.children
        out[node.id] = aggregate_children(
            out[kids], tokens[kids], title_emb.get(node.id), cfg.aggregate, cfg.title_weight
        )
    return out


def _first_leaf(nodes: Sequence[Node]) -> int:
    return next(n.id for n in nodes if n.kind == NodeKind.LEAF)
