"""Plain data types passed between the pipeline stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Section",
    "ParsedDocument",
    "NodeKind",
    "Node",
    "ScoredNode",
    "RouteResult",
    "GenerationStats",
    "Accounting",
    "Answer",
    "SoftTokens",
    "titled_text",
]


@dataclass
class Section:
    """A structural unit of a parsed document.

    ``path`` is the heading path from the document title down to this
    section's own title (inclusive). ``start``/``end`` are character offsets
    of the section *body* (text between this heading and the next heading
    of any level) into :attr:`ParsedDocument.text`; ``text[start:end]`` is
    the body. ``level`` is 1 for top-level sections; deeper sections have
    larger levels. Sections appear in reading order.
    """

    title: str
    path: tuple[str, ...]
    level: int
    start: int
    end: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedDocument:
    """One source document: its canonical text and its sections in order.

    ``text`` is the file content itself for plain text and Markdown, and
    the extracted readable text for HTML and PDF. ``source`` is the path of
    the file (or folder for multi-page HTML). ``meta`` holds format-specific
    extras (``format``, page numbers, source offsets of headings...).
    """

    source: str
    title: str
    text: str
    sections: list[Section]
    meta: dict[str, Any] = field(default_factory=dict)


class NodeKind(str, enum.Enum):
    """The role of a node in the hierarchy."""

    ROOT = "root"
    DOCUMENT = "document"
    SECTION = "section"
    GROUP = "group"  # semantic group of consecutive leaves
    LEAF = "leaf"


@dataclass
class Node:
    """One node of the semantic hierarchy.

    ``id`` is the node's row in the index's embedding matrix. ``start``/``end``
    are character offsets into the owning document's text (for internal nodes:
    the span of their descendants). ``tokens`` counts generator tokens of the
    leaf text (internal nodes: the sum over their leaves). ``text`` is set on
    leaves only. ``path`` is the breadcrumb of heading titles above and
    including this node.
    """

    id: int
    kind: NodeKind
    title: str
    parent: int
    children: list[int]
    doc: int
    start: int
    end: int
    tokens: int
    depth: int
    path: tuple[str, ...]
    text: str = ""
    ref: str = ""  # caller's id for leaves built from external nodes (LlamaIndex node_id, ...)
    excerpt: bool = False  # routing kept only this leaf's sentences matching the question (h2mt.query.excerpt)

    @property
    def titled_text(self) -> str:
        """What encoders read for a leaf: its section title line, then its text (:func:`titled_text`)."""
        return titled_text(self.path[-1] if self.path else "", self.text)


def titled_text(title: str, text: str) -> str:
    """The one leaf-text rule of every encoder (dense, lexical, HMT): ``title\\ntext``, or the text alone."""
    return f"{title}\n{text}" if title else text


@dataclass
class ScoredNode:
    """A node with its routing score (higher is better)."""

    node: Node
    score: float


@dataclass
class RouteResult:
    """What routing kept and pruned, with its own accounting."""

    question: str
    kept: list[ScoredNode]  # kept leaves, in document order
    pruned: list[ScoredNode]  # dropped branches: topmost internal nodes with no kept leaf, best first
    budget: int
    tokens_total: int
    tokens_kept: int
    nodes_scored: int
    nodes_total: int
    route_ms: float

    @property
    def kept_ratio(self) -> float:
        """Share of the index's tokens that routing kept."""
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0


@dataclass
class GenerationStats:
    """Filled in by a backend's ``stream`` while it runs (times in ms from the generation call)."""

    prompt_tokens: int | None = 0  # None: the model did not report it (an external LLM)
    completion_tokens: int | None = 0
    prefill_ms: float | None = 0.0  # the single forward pass over the prompt (None: not reported)
    first_token_ms: float = 0.0  # call start -> first token decoded
    total_ms: float = 0.0  # call start -> generation finished
    peak_mem_bytes: int = 0  # CUDA: max_memory_allocated; CPU: process peak RSS
    finish_reason: str = ""  # "stop" (EOS or stop string) or "length"
    # kv prefill (h2mt.query.prefill.kv): positions read from the leaf KV store instead of prefilled,
    # of which recomputed; the store's bytes read; kept leaves whose cache was missing and computed now
    positions_reused: int = 0
    positions_recomputed: int = 0
    kv_bytes_read: int = 0
    kv_misses: int = 0
    kv_adapter: str = ""  # the block-attention adapter on for the question and answer (its digest), "" if none

    def as_dict(self) -> dict[str, float | int | str]:
        """A flat dict of the fields (for framework metadata)."""
        return dict(self.__dict__)


@dataclass
class Accounting:
    """Cost accounting carried by every answer (docs/architecture.md, house rule 7).

    ``prompt_tokens`` is ``None`` when the answering model did not report it (an external
    LLM); it is never guessed.
    """

    tokens_total: int
    tokens_kept: int
    prompt_tokens: int | None
    completion_tokens: int | None
    nodes_scored: int
    nodes_total: int
    route_ms: float
    prefill_ms: float | None
    ttft_ms: float
    total_ms: float
    peak_mem_bytes: int
    positions_reused: int = 0  # kv prefill: context positions read from the leaf KV store, not prefilled
    positions_recomputed: int = 0  # kv prefill: of those, recomputed to repair cross-block attention
    kv_bytes_read: int = 0  # kv prefill: bytes of cached K/V read
    kv_misses: int = 0  # kv prefill: kept leaves whose cache was missing and computed for this question
    kv_adapter: str = ""  # kv prefill: the block-attention adapter's digest when it was on, else ""
    task: str | None = None  # the answer task that answered (short, brief, ...; PrefillConfig.task="auto" resolved)
    task_reason: str | None = None  # why: the rule that chose it ("which", "what-does", "forced"), and any retry
    # how the shown answer was made: "generated" (written by the generator), "quoted" (the documents' own sentences
    # or value, nothing generated) or "constrained" (the generator's choice among candidates of the kept text)
    answer_kind: str | None = None
    leaves_reranked: int = 0  # task="auto": kept leaves the generator scored by query likelihood (rerank_leaves)
    rerank_ms: float = 0.0  # the forwards that scoring took (inside ttft_ms)
    sentence_rerank_ms: float = 0.0  # task="auto": the cross-encoder re-ranking the kept sentences (inside ttft_ms)

    @property
    def kept_ratio(self) -> float:
        """Share of the index's tokens that went into the prompt."""
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0

    def add_generation(self, stats: GenerationStats) -> None:
        """Add an earlier generation's tokens and prefill time (a retried answer: both count), and
        its peak memory (the larger counts: a quote that replaced it used none)."""
        self.peak_mem_bytes = max(self.peak_mem_bytes, stats.peak_mem_bytes)
        if self.prompt_tokens is not None and stats.prompt_tokens is not None:
            self.prompt_tokens += stats.prompt_tokens
        if self.completion_tokens is not None and stats.completion_tokens is not None:
            self.completion_tokens += stats.completion_tokens
        if self.prefill_ms is not None and stats.prefill_ms is not None:
            self.prefill_ms += stats.prefill_ms

    def as_dict(self) -> dict[str, float | int | str | None]:
        """A flat dict including ``kept_ratio`` (for JSON and framework metadata)."""
        d: dict[str, float | int | str | None] = dict(self.__dict__)
        d["kept_ratio"] = self.kept_ratio
        return d

    @classmethod
    def from_run(
        cls,
        *,
        tokens_total: int,
        nodes_total: int,
        tokens_kept: int,
        route: RouteResult | None,
        stats: GenerationStats,
        started: float,
        generation_started: float,
        ended: float,
    ) -> Accounting:
        """The accounting of one question: routing from ``route`` (``None``: nothing was
        routed), generation from ``stats``; ``started``/``generation_started``/``ended`` are
        ``time.perf_counter()`` readings at the request, the generation call and its end.

        TTFT is request -> first token: routing and prompt building plus the generator's own
        ``first_token_ms`` (measured from the generation call).
        """
        return cls(
            tokens_total=tokens_total,
            tokens_kept=tokens_kept,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            nodes_scored=route.nodes_scored if route else 0,
            nodes_total=nodes_total,
            route_ms=route.route_ms if route else 0.0,
            prefill_ms=stats.prefill_ms,
            ttft_ms=(generation_started - started) * 1000.0 + stats.first_token_ms,
            total_ms=(ended - started) * 1000.0,
            peak_mem_bytes=stats.peak_mem_bytes,
            positions_reused=stats.positions_reused,
            positions_recomputed=stats.positions_recomputed,
            kv_bytes_read=stats.kv_bytes_read,
            kv_misses=stats.kv_misses,
            kv_adapter=stats.kv_adapter,
        )


@dataclass
class Answer:
    """A generated answer with its sources and accounting."""

    question: str
    text: str
    sources: list[ScoredNode]
    accounting: Accounting
    context: str = ""  # the context text the generator was given (kept leaves under breadcrumbs)


@dataclass
class SoftTokens:
    """Embeddings that replace prompt positions (memory prefill, :mod:`h2mt.query.prefill.memory`).

    ``positions[i]`` is the index into ``Prompt.ids`` whose input embedding becomes
    ``vectors[i]`` ((n, d), the generator's hidden size); ``lead`` (d,), when given, is one more
    embedding placed before every id (HMT's memory P), so the model sees ``len(ids) + 1``
    positions. ``node_ids`` name the nodes the vectors are the memories of. It lives here, below
    the backends and the query side, because both read it.
    """

    positions: list[int]
    vectors: np.ndarray  # (n, d) float32
    lead: np.ndarray | None = None  # (d,) float32 or None
    node_ids: list[int] = field(default_factory=list)

    @property
    def extra_positions(self) -> int:
        """Positions the model sees beyond ``len(ids)`` (1 with a leading memory)."""
        return 0 if self.lead is None else 1
