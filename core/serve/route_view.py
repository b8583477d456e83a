"""h2mt's answer details as JSON: sources, the route (kept, pruned, the tree's top levels), accounting."""

from __future__ import annotations

import json
from typing import Any

from ..index.index import Index
from ..types import Answer, ScoredNode
from ..types import RouteResult as Route

__all__ = ["source_json", "h2mt_field", "route_json", "tree_json", "sources_header", "TREE_DEPTH"]

TREE_DEPTH = 2  # the tree view shows every node this deep (root 0, documents 1, top sections 2)


def _source_of(index: Index, s: ScoredNode) -> str:
    return str(index.documents[s.node.doc]["source"]) if 0 <= s.node.doc < len(index.documents) else ""


def source_json(index: Index, s: ScoredNode, *, text: bool = True) -> dict[str, Any]:
    """One kept leaf: ``node_id``, ``path`` (headings), ``source``, ``start``, ``end``, ``score``, ``text``."""
    out: dict[str, Any] = {
        "node_id": s.node.id,
        "path": list(s.node.path),
        "source": _source_of(index, s),
        "start": s.node.start,
        "end": s.node.end,
        "score": float(s.score),
    }
    if text:
        out["text"] = s.node.text
    return out


def h2mt_field(index: Index, answer: Answer, queue_ms: float) -> dict[str, Any]:
    """The extra ``h2mt`` field of an answer: its accounting (plus ``queue_ms``, the wait for the
    generator, which the TTFT includes) and its sources."""
    accounting: dict[str, Any] = answer.accounting.as_dict()
    accounting["queue_ms"] = queue_ms
    return {"accounting": accounting, "sources": [source_json(index, s) for s in answer.sources]}


def sources_header(index: Index, sources: list[ScoredNode], limit: int = 32) -> str:
    """The sources without their text as ASCII JSON, for the ``X-H2MT-Sources`` response header
    (what clients that drop unknown body fields, e.g. LangChain's, can still read)."""
    return json.dumps([source_json(index, s, text=False) for s in sources[:limit]], ensure_ascii=True)


def tree_json(index: Index, r: Route, depth: int = TREE_DEPTH) -> list[dict[str, Any]]:
    """The tree's top levels (depth <= ``depth``) plus every kept leaf and its ancestors, in node order.

    ``kept``: the node is a kept leaf or an ancestor of one; ``pruned``: the node is a pruned
    branch or lies under one."""
    nodes = index.nodes
    kept_ids = {s.node.id for s in r.kept}
    pruned_ids = {s.node.id for s in r.pruned}
    on_path: set[int] = set()
    for nid in kept_ids:
        while nid >= 0 and nid not in on_path:
            on_path.add(nid)
            nid = nodes[nid].parent
    shown = sorted({n.id for n in nodes if n.depth <= depth} | on_path)

    def under_pruned(nid: int) -> bool:
        while nid >= 0:
            if nid in pruned_ids:
                return True
            nid = nodes[nid].parent
        return False

    return [
        {
            "node_id": nid,
            "title": nodes[nid].title or nodes[nid].kind.value,
            "depth": nodes[nid].depth,
            "parent": nodes[nid].parent,
            "kept": nid in on_path,
            "pruned": under_pruned(nid),
        }
        for nid in shown
    ]


def route_json(index: Index, r: Route) -> dict[str, Any]:
    """``POST /v1/route``'s answer: ``kept``, ``pruned``, ``tree`` and ``accounting``."""
    return {
        "kept": [{**source_json(index, s), "tokens": s.node.tokens} for s in r.kept],
        "pruned": [{"node_id": s.node.id, "path": list(s.node.path), "score": float(s.score)} for s in r.pruned],
        "tree": tree_json(index, r),
        "accounting": {
            "tokens_total": r.tokens_total,
            "tokens_kept": r.tokens_kept,
            "kept_ratio": r.kept_ratio,
            "nodes_scored": r.nodes_scored,
            "nodes_total": r.nodes_total,
            "route_ms": r.route_ms,
        },
    }
