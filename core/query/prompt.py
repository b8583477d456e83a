"""Kept leaves -> the prompt: context text under breadcrumb headings, chat messages, token ids.

The second named step of the question path (``route`` -> ``prompt`` -> ``generate``, see
docs/architecture.md). A :class:`Prompt` records what it was made from (question, sources,
context text) beside what the generator reads (messages, token ids), so every caller — the
facade, both integrations and the benchmark — shows and accounts for the same prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import AnswerTask, PrefillConfig, PrefillMode
from ..types import Node, ScoredNode, SoftTokens
from .task import resolve_task

__all__ = ["CRUMB_SEP", "BREADCRUMB_MARK", "Prompt", "SoftTokens", "ChatTemplate", "build_prompt", "build_messages",
           "format_context", "breadcrumb", "PromptBlocks", "block_text", "block_messages", "build_block_prompt"]

CRUMB_SEP = " > "
BREADCRUMB_MARK = "## "  # opens each breadcrumb heading line of the context
ChatTemplate = Callable[[Sequence[dict[str, str]]], list[int]]
SplitTemplate = Callable[[Sequence[dict[str, str]], str], tuple[list[int], list[int]]]  # ids before/after a marker
Encode = Callable[[str], list[int]]
CONTEXT_MARK = "\u2063h2mt:context\u2063"  # stands for the context while the template is split
LineFor = Callable[[Node], "str | None"]
_CUES = {AnswerTask.SHORT: "Short answer:"}  # the line that ends the user turn


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


def format_context(kept: Sequence[Node], breadcrumbs: bool = True, line_for: LineFor | None = None) -> str:
    """The one context layout of every prefill mode: nodes in the given order, blocks joined by
    a blank line; a breadcrumb heading opens a text leaf whenever the heading path changes.

    ``line_for(node)`` (memory prefill) returns the one line that stands for a node instead of
    its text (``title: MARKER``), or ``None`` to keep the node as text; consecutive such lines
    form one block, and a text leaf after them repeats its breadcrumb.
    """
    parts: list[str] = []
    last: tuple[str, ...] | None = None  # heading path of the previous text leaf
    in_lines = False  # the previous block is a run of node lines
    for n in kept:
        line = line_for(n) if line_for is not None else None
        if line is not None:
            if in_lines:
                parts[-1] += "\n" + line
            else:
                parts.append(line)
            in_lines, last = True, None
            continue
        if breadcrumbs and n.path != last:
            parts.append(breadcrumb(n.path))
            last = n.path
        parts.append(n.text)
        in_lines = False
    return "\n\n".join(parts)


def build_messages(question: str, context: str, cfg: PrefillConfig) -> list[dict[str, str]]:
    """Chat messages: the task's system instruction first (stable across questions, so a server's
    prefix cache reuses it), then the context and the question.

    A short-answer task asks the question before and after the context and ends with
    ``Short answer:``, which small models follow far better than a question at the end only (for a
    sentence, brief or explain, the question after the context works better: measured in
    docs/benchmarks.md). ``task="auto"`` is resolved for the question first
    (:func:`h2mt.query.task.resolve_task`).
    """
    q = question.strip()
    cfg = resolve_task(q, cfg)
    if cfg.task in _CUES:
        user = f"Question: {q}\n\nContext:\n{context}\n\nQuestion: {q}\n{_CUES[cfg.task]}"
    else:
        user = f"Context:\n{context}\n\nQuestion: {q}"
    return [{"role": "system", "content": cfg.system_message}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class PromptBlocks:
    """A blocks-layout prompt's token ids in three parts: the shared ``prefix`` (template, system
    message, the opening of the user turn), one id list per kept leaf, and the question ``suffix``.
    ``ids`` is their concatenation, exactly what text prefill runs in this layout."""

    prefix: list[int]
    blocks: list[list[int]]
    suffix: list[int]

    @property
    def ids(self) -> list[int]:
        """prefix + every block + suffix."""
        return [*self.prefix, *(i for b in self.blocks for i in b), *self.suffix]

    @property
    def offsets(self) -> list[int]:
        """The position of each block's first token."""
        out, at = [], len(self.prefix)
        for b in self.blocks:
            out.append(at)
            at += len(b)
        return out


@dataclass
class Prompt:
    """What the generator is given for one question, and what it was made from.

    ``messages`` are the chat messages (system, then context + question); ``ids`` their token
    ids in the generator's chat template (empty when built without a template, e.g. for an
    external chat model that applies its own). ``sources`` are the kept leaves in document
    order and ``context`` the text they became. ``mode`` names the prefill strategy that made
    it and that prefills it (:mod:`h2mt.query.prefill`). ``soft`` (memory and hybrid prefill
    only) holds the embeddings substituted at some of the ids' positions; ``None`` for a text
    prompt.
    """

    question: str
    sources: list[ScoredNode]
    context: str
    messages: list[dict[str, str]]
    ids: list[int] = field(default_factory=list)
    soft: SoftTokens | None = None
    mode: PrefillMode = PrefillMode.TEXT
    blocks: PromptBlocks | None = None  # blocks layout: the ids in parts (kv prefill reads its blocks from a store)
    kv: Any = None  # kv prefill: the KVStore and documents of the blocks (h2mt.query.prefill.kv.KVPlan)

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
    return Prompt(question, list(kept), context, messages, ids, mode=PrefillMode.TEXT)


def block_text(node: Node, breadcrumbs: bool = True) -> str:
    """One leaf as a self-contained block: its breadcrumb line (always, not only when the path
    changes) and its text, closed by a blank line."""
    head = f"{breadcrumb(node.path)}\n\n" if breadcrumbs and node.path else ""
    return f"{head}{node.text}\n\n"


def block_messages(question: str, context: str, cfg: PrefillConfig) -> list[dict[str, str]]:
    """Chat messages of the blocks layout: the task's system message, then the context and the
    question after it only (a question before the context would have to be in every cached block)."""
    q = question.strip()
    cfg = resolve_task(q, cfg)
    cue = f"\n{_CUES[cfg.task]}" if cfg.task in _CUES else ""
    user = f"Context:\n{context}Question: {q}{cue}"
    return [{"role": "system", "content": cfg.system_message}, {"role": "user", "content": user}]


def build_block_prompt(
    question: str,
    kept: Sequence[ScoredNode],
    cfg: PrefillConfig,
    split: SplitTemplate,
    encode: Encode,
    mode: PrefillMode = PrefillMode.TEXT,
    make_messages: Callable[[str, str], list[dict[str, str]]] | None = None,
) -> Prompt:
    """The blocks-layout prompt: the template split around the context (``split``, a backend's
    ``chat_split_ids``) and every kept leaf encoded on its own (``encode``), so a leaf's ids do not
    depend on its neighbours and its cached K/V can be reused by kv prefill. ``make_messages``
    (question, context) -> messages replaces :func:`block_messages` (a benchmark's own prompt);
    everything before the context must not depend on the question, or no block can be reused."""
    texts = [block_text(k.node, cfg.breadcrumbs) for k in kept]
    make = make_messages or (lambda q, c: block_messages(q, c, cfg))
    prefix, suffix = split(make(question, CONTEXT_MARK), CONTEXT_MARK)
    blocks = PromptBlocks(prefix, [encode(t) for t in texts], suffix)
    context = "".join(texts)
    messages = make(question, context)
    return Prompt(question, list(kept), context.rstrip("\n"), messages, blocks.ids, mode=mode, blocks=blocks)
