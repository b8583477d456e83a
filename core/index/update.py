"""Add or remove documents of a built index without re-parsing or re-encoding the others.

Document subtrees are independent below the corpus root, so they are copied (nodes and
memory embeddings) into a new pre-order layout; only the root's memory embedding and the
lexical statistics (which depend on the whole corpus) are recomputed from the stored texts.
The result equals a fresh build over the same documents in the same order. HMT node memories
(``Index.hmt_memory`` / ``hmt_summary``), when every part has them, are copied the same way; the
root's row is then left to :func:`h2mt.index.memories.reaggregate_root` (it needs the HMT).

Documents are identified by a stable key, the resolved absolute path of their source
(:func:`document_key`), so ``net.md`` and ``/abs/net.md`` are one document; the record also
keeps the hash of the document's text (:func:`content_hash`), so an identical document added
from elsewhere replaces its copy. Records written before keys existed are keyed on the fly.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import HierarchyConfig
from ..errors import InputError
from ..types import Node
from .aggregate import aggregate_children
from .encoders.base import Encoder
from .index import Index
from .lexical import LEXICAL_VERSION, node_lexical

__all__ = ["combine", "document_range", "document_key", "content_hash", "matching_documents"]


def document_key(source: str | os.PathLike[str]) -> str:
    """The stable identity of a source: its resolved absolute path (``~`` expanded; the file need
    not exist). Names that are not paths (``<text>``, URLs) are kept as they are."""
    s = os.fspath(source)
    if not s or s.startswith("<") or "://" in s:
        return s
    return str(Path(s).expanduser().resolve())


def content_hash(text: str) -> str:
    """SHA-256 (hex) of a document's text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _record_key(record: Mapping[str, Any]) -> str:
    return str(record.get("key") or document_key(str(record.get("source", ""))))


def matching_documents(
    records: Sequence[Mapping[str, Any]], keys: Iterable[str], hashes: Iterable[str] = ()
) -> set[int]:
    """Positions of the records whose key is in ``keys`` (see :func:`document_key`), whose source is
    literally one of ``keys``, or whose text hash is in ``hashes``."""
    ks, hs = set(keys), {h for h in hashes if h}
    return {
        i for i, r in enumerate(records)
        if _record_key(r) in ks or r.get("source") in ks or (r.get("sha256") and r.get("sha256") in hs)
    }


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
    with_memory = all(index.has_memories for index, _ in parts)
    mem_rows: list[tuple[Any, Any]] = [(base.hmt_memory[:1], base.hmt_summary[:1])] if with_memory else []  # type: ignore[index]
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
            if with_memory:
                mem_rows.append((index.hmt_memory[s:e], index.hmt_summary[s:e]))  # type: ignore[index]
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
    lex = node_lexical(nodes)
    meta = dict(base.meta)
    meta["lexical_version"] = LEXICAL_VERSION
    meta["update_s"] = time.perf_counter() - t0
    if not with_memory:
        meta.pop("hmt", None)
        return Index(nodes, emb, lex, documents, meta)
    dtype = base.hmt_memory.dtype  # type: ignore[union-attr]
    memory = np.concatenate([m for m, _ in mem_rows]).astype(dtype)
    summary = np.concatenate([s for _, s in mem_rows]).astype(dtype)
    return Index(nodes, emb, lex, documents, meta, memory, summary)
