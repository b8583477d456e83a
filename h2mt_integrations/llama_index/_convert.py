"""LlamaIndex nodes -> h2mt leaves: document keys, heading paths, document order and a cache key.

* document: the ``SOURCE`` relationship (else ``ref_doc_id``; else one default document);
* path: ``metadata["header_path"]`` ("/Guide/Signals/", ``MarkdownNodeParser``) plus the node's own
  heading, inherited by later chunks of the section; for ``HierarchicalNodeParser`` output the
  ``PARENT`` chain, each parent titled by its heading or first words (candidates that are
  ancestors of other candidates are structure only);
* order: source offsets (``start_char_idx``, chained through parents) when they are complete
  and unambiguous within a document, else a given rank (a docstore's insertion order), else the
  order the nodes were given in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from h2mt.index.external import LeafInput
from llama_index.core.schema import BaseNode, MetadataMode, NodeRelationship, NodeWithScore

__all__ = ["Leaves", "Lookup", "to_leaves"]

Lookup = Callable[[str], "BaseNode | None"]
_HEADING = re.compile(r"^\s{0,3}#+\s+(.+?)[\s#]*$")
_TITLE_WORDS = 8


@dataclass
class Leaves:
    """The leaves to build over, the caller's candidates by ref, and a key for caching."""

    inputs: list[LeafInput]
    originals: dict[str, NodeWithScore]
    key: str


def _text(node: BaseNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.NONE)


def _heading(text: str) -> str | None:
    m = _HEADING.match(text.lstrip().split("\n", 1)[0])
    return m.group(1) if m else None


def _parent_id(node: BaseNode | None) -> str | None:
    rel = node.relationships.get(NodeRelationship.PARENT) if node is not None else None
    return getattr(rel, "node_id", None)


def _doc(node: BaseNode) -> tuple[str, str]:
    src = node.relationships.get(NodeRelationship.SOURCE)
    meta = {**node.metadata, **(getattr(src, "metadata", None) or {})}
    title = str(meta.get("title") or meta.get("file_name") or "")
    return str(getattr(src, "node_id", None) or node.ref_doc_id or ""), title


def _md_path(node: BaseNode) -> tuple[str, ...]:
    return tuple(p.strip() for p in str(node.metadata.get("header_path") or "").split("/") if p.strip())


class _Converter:
    def __init__(self, nodes: Sequence[NodeWithScore], lookup: Lookup | None) -> None:
        self.known: dict[str, BaseNode] = {}
        for n in nodes:
            self.known.setdefault(n.node.node_id, n.node)
        self.lookup = lookup
        self.titles: dict[str, str] = {}
        self.used: set[tuple[str, str]] = set()

    def get(self, nid: str | None) -> BaseNode | None:
        return (self.known.get(nid) or (self.lookup(nid) if self.lookup else None)) if nid else None

    def ancestors(self, node: BaseNode) -> list[str]:
        """Ids of the PARENT chain, outermost first (parents not found end the chain)."""
        out: list[str] = []
        pid = _parent_id(node)
        while pid and pid not in out:
            out.append(pid)
            pid = _parent_id(self.get(pid))
        return out[::-1]

    def position(self, node: BaseNode) -> tuple[int, ...] | None:
        """Offsets from the outermost known ancestor down; None if any link is unknown."""
        keys: list[int] = []
        cur: BaseNode | None = node
        while cur is not None:
            start = getattr(cur, "start_char_idx", None)
            pid = _parent_id(cur)
            if start is None or (pid and self.get(pid) is None):
                return None
            keys.append(start)
            cur = self.get(pid)
        return tuple(keys[::-1])

    def title(self, pid: str, doc: str, fallback: str) -> str:
        """A short title for a parent node, unique within its document."""
        if pid not in self.titles:
            parent = self.get(pid)
            text = _text(parent) if parent is not None else fallback
            base = _heading(text) or " ".join(text.split()[:_TITLE_WORDS]) or "part"
            t, k = base, 2
            while (doc, t) in self.used:
                t, k = f"{base} ({k})", k + 1
            self.used.add((doc, t))
            self.titles[pid] = t
        return self.titles[pid]


def _ordered(cv: _Converter, group: list[NodeWithScore], rank: Mapping[str, int] | None) -> list[NodeWithScore]:
    pos = [p for p in (cv.position(n.node) for n in group) if p is not None]
    if len(pos) == len(group) and len(set(pos)) == len(pos):
        return [group[i] for i in sorted(range(len(group)), key=lambda i: pos[i])]
    if rank is not None and all(n.node.node_id in rank for n in group):
        return sorted(group, key=lambda n: rank[n.node.node_id])
    return group


def to_leaves(
    nodes: Sequence[NodeWithScore], lookup: Lookup | None = None, rank: Mapping[str, int] | None = None
) -> Leaves:
    """Map candidate nodes to :class:`h2mt.index.external.LeafInput` (``ref`` = node id)."""
    cv = _Converter(nodes, lookup)
    chains = {n.node.node_id: cv.ancestors(n.node) for n in nodes}
    structure = {a for chain in chains.values() for a in chain}
    docs: dict[str, list[NodeWithScore]] = {}
    originals: dict[str, NodeWithScore] = {}
    titles: dict[str, str] = {}
    for n in nodes:
        nid = n.node.node_id
        if nid not in structure and nid not in originals:
            originals[nid] = n
            key, titles[nid] = _doc(n.node)
            docs.setdefault(key, []).append(n)
    inputs: list[LeafInput] = []
    digest = hashlib.sha256()
    for key, group in docs.items():
        prev: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (header path, full path)
        for n in _ordered(cv, group, rank):
            node, text, chain = n.node, _text(n.node), chains[n.node.node_id]
            md = _md_path(node)
            own = None if chain else _heading(text)
            if chain:
                path = md + tuple(cv.title(p, key, text) for p in chain)
            elif own is None and prev is not None and prev[0] == md:
                path = prev[1]  # a later chunk of the same Markdown section
            else:
                path = md + ((own,) if own else ())
            prev = (md, path) if not chain else None
            inputs.append(LeafInput(text, node.node_id, key, path, titles[node.node_id]))
            digest.update("\x1f".join([node.node_id, key, *path, hashlib.sha1(text.encode()).hexdigest()]).encode())
    return Leaves(inputs, originals, digest.hexdigest())
