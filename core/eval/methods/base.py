"""What every compared method shares: the :class:`Method` protocol (every hook the runner and the
generation worker call, optional ones included), :class:`MethodBase` (the optional hooks'
defaults), the :class:`Selection` a method returns, the :class:`GroupView` of one built index it
selects from, and :class:`MethodUnavailable`.

The methods themselves are one module per family (:mod:`.flat`, :mod:`.h2mt`, :mod:`.llmlingua`,
:mod:`.memory`, :mod:`.hmt`); :mod:`.registry` maps names to them. Adding a method: one
:class:`MethodBase` subclass plus one entry in :data:`.registry.REGISTRY` (docs/architecture.md).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from ...query.prompt import format_context
from ...query.select import select_leaves
from ...types import Node, ScoredNode

if TYPE_CHECKING:
    import numpy as np

    from ...engine import H2MT
    from ...query.prompt import Prompt
    from ...types import GenerationStats
    from ..decoding import Decoding

__all__ = ["Selection", "GroupView", "Method", "MethodBase", "MethodUnavailable", "MakeMessages",
           "nodes_selection"]

MakeMessages = Callable[[str, str], list[dict[str, str]]]
"""``(question, context) -> chat messages``: the benchmark task's prompt (LongBench's template)."""


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
    kept: list[ScoredNode] | None = None  # the kept leaves with their scores, if the method has them


def nodes_selection(
    nodes: list[Node], scored: int, started: float, kept: list[ScoredNode] | None = None
) -> Selection:
    """The selection of ``nodes`` (kept leaves in document order) as one formatted context, timed
    from the ``perf_counter`` reading ``started``."""
    return Selection(nodes, format_context(nodes), sum(n.tokens for n in nodes), scored,
                     (time.perf_counter() - started) * 1000.0, kept=kept)


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
        return [n.titled_text for n in self.leaves]

    @cached_property
    def bm25(self) -> Any:
        """A ``bm25s`` retriever over :attr:`chunk_texts`, tokenized by h2mt's one lexical tokenizer
        (:func:`h2mt.index.lexical.analyze`: the terms of h2mt's own per-node BM25)."""
        import bm25s

        from ...index.lexical import analyze

        logging.getLogger("bm25s").setLevel(logging.NOTSET)  # bm25s forces DEBUG at import: the app's config
        retriever = bm25s.BM25()
        retriever.index([analyze(t) for t in self.chunk_texts], show_progress=False)
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
    """A context-selection method: every hook the runner and the generation worker call.

    ``prepare`` and ``select`` are each method's own; the generation hooks are optional in
    substance (:class:`MethodBase` gives the defaults: no work, the task's prompt, the
    generator's decoding) but always present, so callers never probe for them.
    """

    name: str
    budgeted: bool  # False: the result does not depend on the budget (run once)
    needs_encoder: bool  # loads the dense encoder for queries

    def prepare(self, view: GroupView) -> None:
        """Per-document work done once, offline (not timed): e.g. the BM25 index."""
        ...

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Keep context for ``question`` within ``budget`` tokens."""
        ...

    def prepare_generation(self, view: GroupView, backend: Any) -> None:
        """Per-document work on the worker's generator, before any timing (e.g. HMT node memories)."""
        ...

    def warm(self, view: GroupView, question: str, budget: int, make_messages: MakeMessages, backend: Any) -> None:
        """Per-question work before the request, untimed (kv prefill: the store holds the kept leaves)."""
        ...

    def make_prompt(self, view: GroupView, question: str, sel: Selection, make_messages: MakeMessages,
                    backend: Any) -> Prompt | None:
        """This method's own prompt for ``sel`` (built from ``make_messages``), or None for the
        task's prompt over ``sel.text``."""
        ...

    def answer(self, sel: Selection, question: str, backend: Any,
               decoding: Decoding) -> tuple[str, GenerationStats] | None:
        """Answer by itself (read and decode with ``decoding``), or None to answer through the
        generator with the prompt."""
        ...


class MethodBase(ABC):
    """Base of every method: the optional hooks of :class:`Method` with their defaults."""

    name: str
    budgeted: bool = True
    needs_encoder: bool = False

    def prepare(self, view: GroupView) -> None:  # noqa: B027 - optional hook, no work by default
        """Nothing to prepare (default)."""

    @abstractmethod
    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Keep context for ``question`` within ``budget`` tokens."""

    def prepare_generation(self, view: GroupView, backend: Any) -> None:  # noqa: B027 - optional hook
        """Nothing to prepare on the generator (default)."""

    def warm(  # noqa: B027 - optional hook, no work by default
        self, view: GroupView, question: str, budget: int, make_messages: MakeMessages, backend: Any
    ) -> None:
        """Nothing to do before a question (default)."""

    def make_prompt(self, view: GroupView, question: str, sel: Selection, make_messages: MakeMessages,
                    backend: Any) -> Prompt | None:
        """None: the task's prompt over ``sel.text`` (default)."""
        return None

    def answer(self, sel: Selection, question: str, backend: Any,
               decoding: Decoding) -> tuple[str, GenerationStats] | None:
        """None: the generator answers the prompt (default)."""
        return None
