"""The in-memory index: tree nodes, memory embeddings and lexical statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..types import Node, NodeKind
from .lexical import LexicalIndex

if TYPE_CHECKING:
    import numpy as np

    from .agreement import TitleAgreement
    from .titles import TitleIndex

__all__ = ["Index", "FORMAT_VERSION", "MEMORY_FORMAT_VERSION", "READABLE_VERSIONS"]

FORMAT_VERSION = 1
"""Version of the saved index layout; bumped on any incompatible change."""
MEMORY_FORMAT_VERSION = 2
"""Version written for an index that also holds HMT node memories (version 1 + optional arrays)."""
READABLE_VERSIONS = (FORMAT_VERSION, MEMORY_FORMAT_VERSION)


@dataclass
class Index:
    """Everything routing needs; saved as one artifact by :mod:`h2mt.index.store`.

    ``nodes[i].id == i`` in pre-order (root first; id order is document order).
    ``embeddings[i]`` is node ``i``'s unit-norm memory embedding.
    ``documents[d]`` describes document ``d`` (``source``, ``title``, ``format``).
    ``meta`` records how the index was built (encoder, tokenizer, configs).
    ``hmt_memory[i]`` / ``hmt_summary[i]`` (optional, (N, d)) are node ``i``'s HMT memory and
    summary key made by the generator (:mod:`h2mt.index.memories`; ``meta["hmt"]`` says by which).
    """

    nodes: list[Node]
    embeddings: np.ndarray
    lexical: LexicalIndex
    documents: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    hmt_memory: np.ndarray | None = None  # (N, d) HMT memory per node, or None (no memories)
    hmt_summary: np.ndarray | None = None  # (N, d) HMT summary key per node, or None

    @property
    def has_memories(self) -> bool:
        """True when the index holds HMT node memories."""
        return self.hmt_memory is not None and self.hmt_summary is not None

    @property
    def root(self) -> Node:
        """The corpus root."""
        return self.nodes[0]

    @property
    def tokens_total(self) -> int:
        """Generator tokens of all leaves."""
        return self.root.tokens

    @cached_property
    def titles(self) -> TitleIndex:
        """Section titles for exact-match lookup (built on first use, kept with the index)."""
        from .lexical import _stopwords, analyze
        from .titles import TitleIndex, strip_title

        lex = self.lexical
        top = float(lex.idf.max()) if lex.idf.size else 0.0

        def specificity(title: str) -> float:
            ids = [lex.vocab[t] for t in analyze(strip_title(title)) if t in lex.vocab]
            return 1.0 if not ids or top <= 0 else float(lex.idf[ids].max()) / top

        return TitleIndex(self.nodes, _stopwords(), specificity)

    @cached_property
    def commands(self) -> dict[str, list[int]]:
        """Sections by the command their title starts with: ``"set"`` -> the sections titled ``set`` or
        ``set [-abefhkmnptuvxBCEHPT] [-o option-name] …`` (the first word of the unnumbered title, as written,
        when it is an identifier followed by nothing or by a space)."""
        import re

        from .titles import unnumbered

        head = re.compile(r"([A-Za-z_][\w.-]*)(?:\s|$)")
        out: dict[str, list[int]] = {}
        for n in self.nodes:
            if n.kind != NodeKind.LEAF and (m := head.match(unnumbered(n.title))):
                out.setdefault(m.group(1), []).append(n.id)
        return out

    @cached_property
    def agreement(self) -> TitleAgreement:
        """How well each section's text supports its title (computed on demand, cached with the index)."""
        from .agreement import TitleAgreement

        return TitleAgreement(self.nodes)

    @cached_property
    def leaf_mask(self) -> np.ndarray:
        """(N,) bool: which nodes are leaves."""
        import numpy as np

        return np.array([n.kind == NodeKind.LEAF for n in self.nodes], dtype=bool)

    @cached_property
    def leaf_ids(self) -> np.ndarray:
        """(L,) the node ids of the leaves, in document order."""
        import numpy as np

        return np.flatnonzero(self.leaf_mask)

    def next_leaf(self, node_id: int, step: int = 1) -> Node | None:
        """The leaf ``step`` places after leaf ``node_id`` in document order (``step=-1``: the one
        before) when it is of the same document and under the same heading path (a long section is
        cut into leaves, which may sit under different groups); ``None`` otherwise."""
        import numpy as np

        ids = self.leaf_ids  # (L,) ascending
        at = int(np.searchsorted(ids, node_id))
        if at >= len(ids) or ids[at] != node_id or not 0 <= at + step < len(ids):
            return None
        node, near = self.nodes[node_id], self.nodes[int(ids[at + step])]
        return near if near.doc == node.doc and near.path == node.path else None

    def leaves(self) -> list[Node]:
        """All leaves in document order."""
        return [n for n in self.nodes if n.kind == NodeKind.LEAF]

    def find(self, title_prefix: str) -> list[Node]:
        """Internal nodes whose title starts with ``title_prefix`` (case-sensitive)."""
        return [n for n in self.nodes if n.kind != NodeKind.LEAF and n.title.startswith(title_prefix)]

    def ancestors(self, node_id: int) -> list[Node]:
        """Ancestors of ``node_id`` from the root down (excluding the node)."""
        out = []
        p = self.nodes[node_id].parent
        while p >= 0:
            out.append(self.nodes[p])
            p = self.nodes[p].parent
        return out[::-1]
