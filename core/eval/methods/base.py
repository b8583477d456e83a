"""What every compared method shares: the :class:`Method` protocol, the :class:`Selection` it
returns, the :class:`GroupView` of one built index it selects from, and :class:`MethodUnavailable`.

The methods themselves are in :mod:`.methods` (and :mod:`.llmlingua`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from ...query.select import select_leaves
from ...types import Node, ScoredNode

if TYPE_CHECKING:
    import numpy as np

    from ...engine import H2MT

__all__ = ["Selection", "GroupView", "Method", "MethodUnavailable"]


class MethodUnavailable(Exception):
    """A method cannot run here (missing package, offline, over its size limit); ``str`` is the reason."""


@dataclass
class Selection:
    """What a method keeps for one question."""

    nodes: list[Node] | None  # kept leaves in document order (None for text-level methods)
    text: str  # the context as the generator sees it
    tokens_kept: int  # generator tokens of the kept leaves (text-level: of the compressed text)
    nodes_scored: int  # nodes the method scored
    select_ms: float  # wall time of the selection (query encoding included)
    kept: list[ScoredNode] | None = None  # the kept leaves with their scores, when the method has them (memory prefill)


class GroupView:
    """One built index seen as a flat list of chunks (its leaves), with lazy BM25 and embeddings."""

    def __init__(self, eng: H2MT) -> None:
        self.eng = eng
        self.index = eng.index
        self.leaves = self.index.leaves()

    @property
    def tokens_total(self) -> int:
        """Generator tokens of all leaves."""
        return self.index.tokens_total

    @cached_property
    def chunk_texts(self) -> list[str]:
        """Section title + text of each leaf: exactly what the encoder embedded for the leaf,
        so the lexical and the dense flat retrievers index the same text."""
        return [f"{n.path[-1]}\n{n.text}" if n.path and n.path[-1] else n.text for n in self.leaves]

    @cached_property
    def bm25(self) -> Any:
        """A ``bm25s`` retriever over :attr:`chunk_texts` (English stopwords, no stemming)."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.NOTSET)  # bm25s forces DEBUG at import: defer to the app's config
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(self.chunk_texts, stopwords="en", show_progress=False), show_progress=False)
        return retriever

    @cached_property
    def embeddings(self) -> np.ndarray:
        """(L, D) the index's leaf embeddings (the encoder's output for heading + text)."""
        return self.index.embeddings[[n.id for n in self.leaves]]

    def fill(self, scores: Sequence[float], budget: int) -> list[Node]:
        """Best-scored leaves until ``budget`` is full (h2mt's own greedy rule), in document order."""
        pool = {n.id: float(s) for n, s in zip(self.leaves, scores, strict=True)}
        return [k.node for k in select_leaves(self.index.nodes, pool, budget)]


class Method(Protocol):
    """A context-selection method."""

    name: str
    budgeted: bool  # False: the result does not depend on the budget (run once)
    needs_encoder: bool  # loads the dense encoder for queries

    def prepare(self, view: GroupView) -> None:
        """Per-document work done once, offline (not timed): e.g. the BM25 index."""
        ...

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Keep context for ``question`` within ``budget`` tokens."""
        ...
