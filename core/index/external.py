"""Pre-chunked leaves from other frameworks (LlamaIndex nodes, LangChain documents) -> documents + leaves.

Integrations hand over their own chunks; each becomes exactly one leaf (never re-chunked)
carrying the caller's id as ``ref``. Heading paths give the structure: consecutive leaves
with the same path share a section, and every path prefix becomes an enclosing section.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..counting import CountFn
from ..errors import InputError
from ..types import ParsedDocument, Section
from .chunking import Leaf

__all__ = ["LeafInput", "documents_from_leaves"]

_SEP = "\n\n"


@dataclass
class LeafInput:
    """One external chunk: its text, heading path inside its document, and ids."""

    text: str
    ref: str  # caller's id, returned on kept leaves (e.g. a LlamaIndex node_id)
    doc: str = ""  # document key: leaves with the same key form one document subtree
    path: tuple[str, ...] = ()  # heading titles from the top section down (not the document title)
    doc_title: str = ""  # title of the document (first non-empty wins)
    meta: dict[str, Any] = field(default_factory=dict)


def _open(path: tuple[str, ...], open_path: tuple[str, ...], title: str, start: int) -> list[Section]:
    """Sections to open at ``start`` so that a leaf with ``path`` follows one with ``open_path``.

    Enclosing prefixes not already open get empty sections; the last one receives the leaf.
    Returning to an ancestor opens a ``continuation`` of it; no path means the document lead.
    """
    if not path:
        return [Section(title, (title,), 1, start, start)]
    common = 0
    while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
        common += 1
    if common == len(path):  # back up to an ancestor that is still open
        return [Section(path[-1], path, len(path), start, start, {"kind": "continuation"})]
    return [Section(path[i], path[: i + 1], i + 1, start, start) for i in range(common, len(path))]


def documents_from_leaves(
    inputs: Sequence[LeafInput], count: CountFn
) -> tuple[list[ParsedDocument], list[Leaf]]:
    """Group ``inputs`` by document (first-appearance order) and build sections and leaves."""
    texts = [x.text for x in inputs]
    if not any(t.strip() for t in texts):
        raise InputError("No text in the given nodes/documents: nothing to route over")
    order: dict[str, list[int]] = {}
    for i, x in enumerate(inputs):
        if x.text.strip():
            order.setdefault(x.doc, []).append(i)
    tokens = count([texts[i] for ids in order.values() for i in ids])
    docs: list[ParsedDocument] = []
    leaves: list[Leaf] = []
    k = 0
    open_path: tuple[str, ...]
    for key, ids in order.items():
        title = next((inputs[i].doc_title for i in ids if inputs[i].doc_title), key or "document")
        text, open_path = "", ()
        sections: list[Section] = []
        for i in ids:
            x = inputs[i]
            start = len(text) + (len(_SEP) if text else 0)
            text = f"{text}{_SEP}{x.text}" if text else x.text
            if x.path != open_path or not sections:
                sections.extend(_open(x.path, open_path, title, start))
                open_path = x.path
            sections[-1].end = len(text)
            leaves.append(Leaf(len(docs), len(sections) - 1, start, len(text), x.text, tokens[k], x.ref))
            k += 1
        docs.append(ParsedDocument(key or title, title, text, sections, {"format": "external"}))
    return docs, leaves
