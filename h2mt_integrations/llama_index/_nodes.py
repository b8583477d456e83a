"""h2mt -> LlamaIndex: Documents to parsed documents, and leaves of an index back to nodes."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from h2mt.index.index import Index
from h2mt.types import Node, ParsedDocument
from llama_index.core.schema import (
    BaseNode,
    Document,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)

__all__ = ["NodeTable", "parsed_document"]

_FORMATS = {".html": "html", ".htm": "html", ".xhtml": "html", ".txt": "text", ".rst": "text"}


def parsed_document(doc: Document) -> ParsedDocument:
    """Parse a Document with h2mt's parser for its file type (by ``file_name``; default Markdown)."""
    from h2mt.index.parse import parse_text

    name = str(doc.metadata.get("file_name") or doc.metadata.get("file_path") or "")
    fmt = _FORMATS.get(os.path.splitext(name)[1].lower(), "markdown")
    return parse_text(doc.get_content(metadata_mode=MetadataMode.NONE), doc.doc_id, fmt)  # type: ignore[arg-type]


class NodeTable:
    """The LlamaIndex node of each leaf: the caller's node (by ``ref``), else a ``TextNode`` made once
    with the document's metadata, the leaf's offsets, its heading path (``h2mt_path``) and SOURCE."""

    def __init__(
        self, index: Index, nodes: Mapping[str, BaseNode] | None = None,
        documents: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.index = index
        self.nodes: dict[str, BaseNode] = dict(nodes or {})
        self.documents = {k: dict(v) for k, v in (documents or {}).items()}
        self._lock = threading.Lock()

    def __call__(self, leaf: Node) -> BaseNode:
        """The node for ``leaf`` (the same object on every call)."""
        docs = self.index.documents
        doc = docs[leaf.doc] if 0 <= leaf.doc < len(docs) else {}
        src = str(doc.get("source", ""))
        key = leaf.ref or f"{src}#{leaf.start}-{leaf.end}"
        with self._lock:
            if key not in self.nodes:
                meta = self.documents.get(src) or {"source": src, "title": doc.get("title", "")}
                self.nodes[key] = TextNode(
                    id_=key, text=leaf.text, start_char_idx=leaf.start, end_char_idx=leaf.end,
                    metadata={**meta, "h2mt_path": " > ".join(p for p in leaf.path if p)},
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=src, metadata=meta)})
            return self.nodes[key]
