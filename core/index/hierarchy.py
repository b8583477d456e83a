"""Leaves -> a rooted tree: structural nesting from headings, semantic grouping elsewhere.

Node ids are assigned in pre-order, so sorting by id is document order and every
parent id is smaller than its children's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import HierarchyConfig
from ..types import Node, NodeKind, ParsedDocument, Section
from .chunking import Leaf

if TYPE_CHECKING:
    import numpy as np

__all__ = ["build_tree", "segment_consecutive"]


class _Draft:
    """A mutable tree node before ids are assigned."""

    __slots__ = ("kind", "title", "children", "leaf", "doc", "path")

    def __init__(self, kind: NodeKind, title: str, doc: int, path: tuple[str, ...], leaf: int = -1):
        self.kind = kind
        self.title = title
        self.children: list[_Draft] = []
        self.leaf = leaf
        self.doc = doc
        self.path = path


def segment_consecutive(emb: np.ndarray, branching: int) -> list[tuple[int, int]]:
    """Cut a sequence of row embeddings into contiguous segments of size <= ``branching``.

    Each segment ends at the least similar adjacent pair inside the window
    ``[start + branching//2, start + branching)`` (a TextTiling-style valley), so
    topic shifts become group boundaries. Returns half-open (start, end) spans.
    """
    import numpy as np

    n = emb.shape[0]
    if n <= branching:
        return [(0, n)]
    sim = (emb[:-1] * emb[1:]).sum(1)  # (n-1,) similarity of item i and i+1
    lo = max(1, branching // 2)
    spans: list[tuple[int, int]] = []
    s = 0
    while n - s > branching:
        window = sim[s + lo - 1 : s + branching]  # cut after item s+lo-1 .. s+branching-1
        cut = s + lo + int(np.argmin(window))
        spans.append((s, cut))
        s = cut
    spans.append((s, n))
    return spans


def _group_level(items: list[_Draft], emb: np.ndarray, cfg: HierarchyConfig) -> list[_Draft]:
    """Replace a long run of siblings by semantic GROUP nodes, level by level."""
    import numpy as np

    while len(items) > cfg.branching:
        spans = segment_consecutive(emb, cfg.branching)
        groups = []
        for s, e in spans:
            g = _Draft(NodeKind.GROUP, "", items[s].doc, items[s].path)
            g.children = items[s:e]
            groups.append(g)
        emb = np.stack([emb[s:e].mean(0) for s, e in spans])
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        items = groups
    return items


def _regroup(node: _Draft, leaf_emb: np.ndarray, cfg: HierarchyConfig) -> None:
    """Apply semantic grouping to runs of consecutive leaf children, recursively."""
    out: list[_Draft] = []
    run: list[_Draft] = []

    def flush() -> None:
        if len(run) > cfg.semantic_min_leaves:
            out.extend(_group_level(list(run), leaf_emb[[d.leaf for d in run]], cfg))
        else:
            out.extend(run)
        run.clear()

    for c in node.children:
        if c.kind == NodeKind.LEAF:
            run.append(c)
        else:
            flush()
            _regroup(c, leaf_emb, cfg)
            out.append(c)
    flush()
    node.children = out


def _document_draft(doc: ParsedDocument, di: int, leaves_by_section: dict[int, list[int]]) -> _Draft:
    """Structural subtree of one document: sections nest by level, leaves under their section."""
    root = _Draft(NodeKind.DOCUMENT, doc.title, di, (doc.title,))
    stack: list[tuple[int, _Draft]] = [(0, root)]
    for si, sec in enumerate(doc.sections):
        cont = _continued(stack, sec)
        while len(stack) > 1 and stack[-1][0] >= sec.level and stack[-1][1] is not cont:
            stack.pop()
        parent = stack[-1][1]
        is_lead = sec.level <= 1 and sec.title == doc.title and not sec.path[:-1]
        if cont is not None:  # text after a definition list goes back into its section
            node = cont
        elif is_lead:  # text before the first heading (or a heading-less doc) hangs off the document
            node = parent
        else:
            # a section titled like its parent (a page whose heading repeats its title) keeps one level in the path
            path = parent.path if parent.path[-1:] == (sec.title,) else (*parent.path, sec.title)
            node = _Draft(NodeKind.SECTION, sec.title, di, path)
            parent.children.append(node)
            stack.append((sec.level, node))
        for li in leaves_by_section.get(si, []):
            node.children.append(_Draft(NodeKind.LEAF, "", di, node.path, leaf=li))
    return root


def _continued(stack: list[tuple[int, _Draft]], sec: Section) -> _Draft | None:
    """The open section a ``continuation`` section resumes (same title and level), if any."""
    if sec.meta.get("kind") != "continuation":
        return None
    return next((d for lvl, d in reversed(stack) if lvl == sec.level and d.title == sec.title), None)


def _prune_empty(node: _Draft) -> bool:
    """Drop subtrees without leaves; returns whether ``node`` keeps any leaf."""
    if node.kind == NodeKind.LEAF:
        return True
    node.children = [c for c in node.children if _prune_empty(c)]
    return bool(node.children)


def build_tree(
    docs: Sequence[ParsedDocument],
    leaves: Sequence[Leaf],
    leaf_emb: np.ndarray,
    cfg: HierarchyConfig,
    corpus_title: str = "corpus",
) -> list[Node]:
    """Build the corpus tree: headings give sections, long runs of leaves under one heading
    are grouped semantically; returns nodes in pre-order (``nodes[i].id == i``, root first)."""
    by_sec: dict[tuple[int, int], list[int]] = {}
    for i, lf in enumerate(leaves):
        by_sec.setdefault((lf.doc, lf.section), []).append(i)
    root = _Draft(NodeKind.ROOT, corpus_title, -1, ())
    for di, doc in enumerate(docs):
        secs = {s: v for (d, s), v in by_sec.items() if d == di}
        dnode = _document_draft(doc, di, secs)
        if _prune_empty(dnode):
            root.children.append(dnode)
    _regroup(root, leaf_emb, cfg)
    return _flatten(root, leaves)


def _flatten(root: _Draft, leaves: Sequence[Leaf]) -> list[Node]:
    """Assign pre-order ids and compute spans, token sums and depths."""
    nodes: list[Node] = []

    def visit(d: _Draft, parent: int, depth: int) -> Node:
        nid = len(nodes)
        lf = leaves[d.leaf] if d.kind == NodeKind.LEAF else None
        node = Node(nid, d.kind, d.title, parent, [], d.doc, 0, 0, 0, depth, d.path,
                    lf.text if lf else "", lf.ref if lf else "")
        nodes.append(node)
        if lf is not None:
            node.start, node.end, node.tokens = lf.start, lf.end, lf.tokens
            return node
        kids = [visit(c, nid, depth + 1) for c in d.children]
        node.children = [k.id for k in kids]
        node.tokens = sum(k.tokens for k in kids)
        if kids:
            node.start, node.end = kids[0].start, kids[-1].end
        return node

    visit(root, -1, 0)
    return nodes
