"""Kept leaves -> budgeted, document-ordered context with breadcrumb headings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .config import PrefillConfig
from .types import Node, ScoredNode

__all__ = ["select_leaves", "format_context", "build_messages"]

CRUMB_SEP = " > "


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


def format_context(kept: Sequence[Node], breadcrumbs: bool = True) -> str:
    """Leaves in the given order; a breadcrumb header whenever the heading path changes."""
    parts: list[str] = []
    last: tuple[str, ...] | None = None
    for n in kept:
        if breadcrumbs and n.path != last:
            parts.append("## " + CRUMB_SEP.join(p for p in n.path if p))
            last = n.path
        parts.append(n.text)
    return "\n\n".join(parts)


def build_messages(question: str, context: str, cfg: PrefillConfig) -> list[dict[str, str]]:
    """Chat messages: system instruction, then the context and the question."""
    user = f"Context:\n{context}\n\nQuestion: {question.strip()}"
    return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]
