"""Translation between LangChain objects and the h2mt pipeline: messages, documents, leaves, sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from h2mt import ScoredNode
from h2mt.index.external import LeafInput
from h2mt.index.index import Index
from h2mt.query.prompt import breadcrumb
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, ChatMessage

__all__ = ["to_chat_messages", "heading_path", "to_leaves", "node_document", "top_k", "format_documents"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_HEADER_KEYS = tuple(f"Header {i}" for i in range(1, 7))  # written by MarkdownHeaderTextSplitter


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
            raise ValueError(f"h2mt local models take text only; got a {kind!r} content block")
    return "".join(parts)


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages -> ``[{"role", "content"}]`` for the backend's chat template."""
    out = []
    for m in messages:
        role = m.role if isinstance(m, ChatMessage) else _ROLES.get(m.type)
        if role is None:
            raise ValueError(
                f"h2mt chat models do not support {m.type!r} messages (no tool calling); "
                "send system, human and ai messages"
            )
        out.append({"role": role, "content": _text(m.content)})
    return out


def heading_path(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Heading titles of a document: ``path``/``header_path`` metadata, else ``Header 1..6`` keys."""
    p = meta.get("path", meta.get("header_path"))
    if isinstance(p, str):
        return tuple(x.strip() for x in p.split(" > ") if x.strip())
    if isinstance(p, Sequence):
        return tuple(str(x) for x in p if x)
    return tuple(str(meta[k]) for k in _HEADER_KEYS if meta.get(k))


def _without_crumb(d: Document) -> str:
    """``page_content`` without the breadcrumb line H2MTRetriever puts first (the path is metadata)."""
    crumb = breadcrumb(heading_path(d.metadata)) + "\n"
    return d.page_content[len(crumb):] if d.page_content.startswith(crumb) else d.page_content


def to_leaves(docs: Sequence[Document]) -> list[LeafInput]:
    """One leaf per document (``ref`` = its position); ``source`` groups documents, ``title`` names them."""
    leaves = []
    for i, d in enumerate(docs):
        title = str(d.metadata.get("title") or "")
        path = heading_path(d.metadata)
        if title and path[:1] == (title,):
            path = path[1:]  # our own documents carry the title as the first breadcrumb
        source = d.metadata.get("source")
        leaves.append(LeafInput(_without_crumb(d), str(i), str(source or ""), path, title))
    return leaves


def node_document(s: ScoredNode, index: Index, breadcrumbs: bool = False) -> Document:
    """A kept leaf of a saved index as a Document (id, heading path, score, source, offsets);
    with ``breadcrumbs`` the content starts with its heading path line (:func:`h2mt.query.prompt.breadcrumb`)."""
    n = s.node
    doc = index.documents[n.doc] if n.doc < len(index.documents) else {}
    nid = n.ref or str(n.id)
    meta = {
        "id": nid, "path": list(n.path), "score": s.score, "source": doc.get("source", ""),
        "title": doc.get("title", ""), "start": n.start, "end": n.end, "tokens": n.tokens,
    }
    text = f"{breadcrumb(n.path)}\n{n.text}" if breadcrumbs and any(n.path) else n.text
    return Document(page_content=text, metadata=meta, id=nid)


def top_k(docs: list[Document], k: int | None) -> list[Document]:
    """The ``k`` best-scoring documents, kept in their (document) order; all when ``k`` is None."""
    if k is None or k >= len(docs):
        return docs
    best = sorted(range(len(docs)), key=lambda i: (-docs[i].metadata["score"], i))[:k]
    return [docs[i] for i in sorted(best)]


def format_documents(docs: Sequence[Document], breadcrumbs: bool = True) -> str:
    """Prompt context: documents in order, a ``## a > b`` breadcrumb whenever the heading path changes
    (not repeated for a document whose content already starts with it)."""
    parts: list[str] = []
    last: tuple[str, ...] = ()
    for d in docs:
        path = heading_path(d.metadata)
        crumb = breadcrumb(path)
        own = d.page_content.startswith(crumb + "\n")  # H2MTRetriever documents carry their own
        if breadcrumbs and path and path != last and not own:
            parts.append(crumb)
        last = path
        parts.append(d.page_content)
    return "\n\n".join(parts)
