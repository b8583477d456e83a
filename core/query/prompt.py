"""Kept leaves -> the prompt: context text under breadcrumb headings, chat messages, token ids.

The second named step of the question path (``route`` -> ``prompt`` -> ``generate``, see
docs/architecture.md). A :class:`Prompt` records what it was made from (question, sources,
context text) beside what the generator reads (messages, token ids), so every caller — the
facade, both integrations and the benchmark — shows and accounts for the same prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import AnswerTask, PrefillConfig
from ..types import Node, ScoredNode

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CRUMB_SEP", "BREADCRUMB_MARK", "Prompt", "SoftTokens", "build_prompt", "build_messages",
           "format_context", "breadcrumb"]

CRUMB_SEP = " > "
BREADCRUMB_MARK = "## "  # opens each breadcrumb heading line of the context
ChatTemplate = Callable[[Sequence[dict[str, str]]], list[int]]


def breadcrumb(path: Sequence[str]) -> str:
    """One heading line for a heading path: ``## Doc > Section > Entry``.

    Empty parts are dropped and a level repeated right after itself (a page titled like its
    heading: ``20.5. Write Ahead Log > 20.5. Write Ahead Log``) is shown once.
    """
    parts: list[str] = []
    for p in path:
        if p and (not parts or p != parts[-1]):
            parts.append(p)
    return BREADCRUMB_MARK + CRUMB_SEP.join(parts)


def format_context(kept: Sequence[Node], breadcrumbs: bool = True) -> str:
    """Leaves in the given order; a breadcrumb header whenever the heading path changes."""
    parts: list[str] = []
    last: tuple[str, ...] | None = None
    for n in kept:
        if breadcrumbs and n.path != last:
            parts.append(breadcrumb(n.path))
            last = n.path
        parts.append(n.text)
    return "\n\n".join(parts)


def build_messages(question: str, context: str, cfg: PrefillConfig) -> list[dict[str, str]]:
    """Chat messages: the task's system instruction first (stable across questions, so a server's
    prefix cache reuses it), then the context and the question.

    A short-answer task asks the question before and after the context and ends with
    ``Short answer:``, which small models follow far better than a question at the end only.
    """
    q = question.strip()
    if cfg.task == AnswerTask.SHORT:
        user = f"Question: {q}\n\nContext:\n{context}\n\nQuestion: {q}\nShort answer:"
    else:
        user = f"Context:\n{context}\n\nQuestion: {q}"
    return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]


@dataclass
class SoftTokens:
    """Embeddings that replace prompt positions (memory prefill, :mod:`h2mt.query.prefill.memory`).

    ``positions[i]`` is the index into ``Prompt.ids`` whose input embedding becomes
    ``vectors[i]`` ((n, d), the generator's hidden size); ``lead`` (d,), when given, is one more
    embedding placed before every id (HMT's memory P), so the model sees ``len(ids) + 1``
    positions. ``node_ids`` name the nodes the vectors are the memories of.
    """

    positions: list[int]
    vectors: np.ndarray  # (n, d) float32
    lead: np.ndarray | None = None  # (d,) float32 or None
    node_ids: list[int] = field(default_factory=list)

    @property
    def extra_positions(self) -> int:
        """Positions the model sees beyond ``len(ids)`` (1 with a leading memory)."""
        return 0 if self.lead is None else 1


@dataclass
class Prompt:
    """What the generator is given for one question, and what it was made from.

    ``messages`` are the chat messages (system, then context + question); ``ids`` their token
    ids in the generator's chat template (empty when built without a template, e.g. for an
    external chat model that applies its own). ``sources`` are the kept leaves in document
    order and ``context`` the text they became. ``soft`` (memory and hybrid prefill only) holds
    the embeddings substituted at some of the ids' positions; ``None`` for a text prompt.
    """

    question: str
    sources: list[ScoredNode]
    context: str
    messages: list[dict[str, str]]
    ids: list[int] = field(default_factory=list)
    soft: SoftTokens | None = None

    @property
    def positions(self) -> int:
        """Positions the generator prefills: the ids, plus a leading memory embedding if any."""
        return len(self.ids) + (self.soft.extra_positions if self.soft is not None else 0)

    @classmethod
    def of_messages(cls, messages: Sequence[Mapping[str, str]], ids: Sequence[int] = ()) -> Prompt:
        """A prompt of ready-made chat messages (a chat model's turn; no routed sources)."""
        return cls("", [], "", [dict(m) for m in messages], list(ids))

    @property
    def tokens_kept(self) -> int:
        """Generator tokens of the kept leaves (breadcrumbs and template not included)."""
        return sum(s.node.tokens for s in self.sources)


def build_prompt(
    question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig, template: ChatTemplate | None = None
) -> Prompt:
    """The prompt for ``question`` over ``kept`` leaves; ``template`` (a backend's ``chat_ids``)
    turns the messages into token ids."""
    context = format_context([k.node for k in kept], cfg.breadcrumbs)
    messages = build_messages(question, context, cfg)
    ids = template(messages) if template is not None else []
    return Prompt(question, list(kept), context, messages, ids)
