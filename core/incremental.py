"""Add or remove documents of a built index without re-parsing or re-encoding the others.

Document subtrees are independent below the corpus root, so they are copied (nodes and
memory embeddings) into a new pre-order layout; only the root's memory embedding and the
lexical statistics (which depend on the whole corpus) are recomputed from the stored texts.
The result equals a fresh build over the same documents in the same order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from .aggregate import aggregate_children
from .config import HierarchyConfig
from .encoders import Encoder
from .errors import InputError
from .index import Index
from .lexical import build_lexical
from .types import Node, NodeKind

__all__ = ["combine", "document_range"]


def document_range(index: Index, doc_node: Node) -> tuple[int, int]:
    """Pre-order id range [start, end) of a document's subtree."""
    sibs = index.root.children
    k = sibs.index(doc_node.id)
    return doc_node.id, sibs[k + 1] if k + 1 < len(sibs) else len(index.nodes)


def combine(
    parts: Sequence[tuple[Index, Iterable[int]]], encoder: Encoder, cfg: HierarchyConfig
) -> Index:
    """A new index holding, in order, the listed documents (by position) of each part."""
    import numpy as np

    t0 = time.perf_counter()
    base = parts[0][0]
    root = replace(base.root, children=[], tokens=0)
    nodes: list[Node] = [root]
    rows = [np.zeros_like(base.embeddings[:1])]
    documents: list[dict[str, Any]] = []
    for index, keep in parts:
        for d in keep:
            doc_node = index.nodes[index.root.children[d]]
            s, e = document_range(index, doc_node)
            off, new_doc = len(nodes) - s, len(documents)
            for n in index.nodes[s:e]:
                nodes.append(replace(n, id=n.id + off, parent=0 if n.parent == 0 else n.parent + off,
                                     children=[c + off for c in n.children], doc=new_doc))
            rows.append(index.embeddings[s:e])
            documents.append(index.documents[d])
            root.children.append(doc_node.id + off)
    if not root.children:
        raise InputError("The index would be empty: keep or add at least one document")
    kids = [nodes[c] for c in root.children]
    root.tokens = sum(k.tokens for k in kids)
    root.start, root.end = kids[0].start, kids[-1].end
    emb = np.concatenate(rows).astype(np.float32)
    title = encoder.encode([root.title])[0] if root.title else None
    emb[0] = aggregate_children(emb[root.children], np.array([k.tokens for k in kids]), title,
                                cfg.aggregate, cfg.title_weight)
    lex = build_lexical(
        [n.text if n.kind == NodeKind.LEAF else n.title for n in nodes],
        [n.parent for n in nodes],
        [n.depth for n in nodes],
        [n.kind == NodeKind.LEAF for n in nodes],
    )
    meta = dict(base.meta)
    meta["update_s"] = time.perf_counter() - t0
    return Index(nodes, emb, lex, documents, meta)
