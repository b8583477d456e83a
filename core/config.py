"""One typed, validated configuration dataclass per pipeline stage.

Standard library only, so ``import h2mt`` stays cheap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from .errors import BudgetError, ConfigError

__all__ = [
    "ChunkConfig",
    "HierarchyConfig",
    "EncoderConfig",
    "AggregateStrategy",
    "FusionMode",
    "RouteConfig",
    "PrefillConfig",
    "PrefillMode",
    "PromptLayout",
    "KVConfig",
    "MemoryConfig",
    "BackendConfig",
    "H2MTConfig",
]


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


_E = TypeVar("_E", bound=enum.Enum)


def _enum(kind: type[_E], value: object, field_name: str) -> _E:
    """``kind(value)``, or a one-line :class:`ConfigError` listing the accepted values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise ConfigError(f"{field_name} must be one of {allowed}; got {value!r}") from None


@dataclass
class ChunkConfig:
    """How section bodies are cut into token-bounded leaves."""

    max_tokens: int = 192  # upper bound of a leaf, in generator tokens
    min_tokens: int = 24  # a trailing piece smaller than this merges into the previous leaf

    def __post_init__(self) -> None:
        _check(self.max_tokens >= 8, f"ChunkConfig.max_tokens must be >= 8, got {self.max_tokens}")
        _check(
            0 <= self.min_tokens < self.max_tokens,
            f"ChunkConfig.min_tokens must be in [0, max_tokens), got {self.min_tokens}",
        )


class AggregateStrategy(str, enum.Enum):
    """How an internal node's memory embedding is made from its children."""

    MEAN = "mean"  # plain mean of the children
    LENGTH_WEIGHTED = "length_weighted"  # mean weighted by each child's token count
    MAX = "max"  # element-wise max of the children


@dataclass
class HierarchyConfig:
    """Tree construction and bottom-up aggregation."""

    branching: int = 8  # max children of a semantic group node
    semantic_min_leaves: int = 12  # runs of consecutive leaves longer than this get grouped
    aggregate: AggregateStrategy = AggregateStrategy.LENGTH_WEIGHTED  # child aggregation
    title_weight: float = 0.5  # weight of the node's own title embedding in its memory

    def __post_init__(self) -> None:
        self.aggregate = _enum(AggregateStrategy, self.aggregate, "HierarchyConfig.aggregate")
        _check(self.branching >= 2, f"HierarchyConfig.branching must be >= 2, got {self.branching}")
        _check(
            self.semantic_min_leaves >= self.branching,
            "HierarchyConfig.semantic_min_leaves must be >= branching",
        )
        _check(self.title_weight >= 0, "HierarchyConfig.title_weight must be >= 0")


@dataclass
class EncoderConfig:
    """Which encoder makes the node embeddings."""

    kind: Literal["sentence-transformers", "lm-hidden", "hashing"] = "sentence-transformers"
    model: str | None = None  # path or name; None = the embedded all-MiniLM-L6-v2
    batch_size: int = 16  # leaves per batch (small batches pad less; fastest on CPU)
    batch_tokens: int = 512  # ONNX runtimes: at most this many padded tokens per batch (token-sorted)
    device: str = "cpu"  # torch device for the encoder
    hashing_dim: int = 256  # dimension of the deterministic hashing encoder
    # sentence-transformers runtime: torch, ONNX Runtime fp32 or int8; "auto" = onnx-int8 for the
    # embedded MiniLM on the CPU (the fastest at equal routing recall, docs/scale.md), else torch
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    cache_dir: str | None = None  # where ONNX exports are cached (None = $H2MT_CACHE_DIR or the user cache)

    def __post_init__(self) -> None:
        _check(
            self.kind in ("sentence-transformers", "lm-hidden", "hashing"),
            f"EncoderConfig.kind must be sentence-transformers, lm-hidden or hashing, got {self.kind!r}",
        )
        _check(self.batch_size >= 1, "EncoderConfig.batch_size must be >= 1")
        _check(self.batch_tokens >= 1, "EncoderConfig.batch_tokens must be >= 1")
        _check(self.hashing_dim >= 8, "EncoderConfig.hashing_dim must be >= 8")
        _check(
            self.backend in ("auto", "torch", "onnx", "onnx-int8"),
            f"EncoderConfig.backend must be auto, torch, onnx or onnx-int8, got {self.backend!r}",
        )
        _check(
            self.backend in ("auto", "torch") or self.kind == "sentence-transformers",
            f"EncoderConfig.backend={self.backend!r} applies to kind='sentence-transformers' only; "
            f"leave backend='torch' for kind={self.kind!r}",
        )

    @property
    def runtime(self) -> Literal["torch", "onnx", "onnx-int8"]:
        """The runtime ``backend`` stands for: ``auto`` is ``onnx-int8`` for the embedded MiniLM on
        the CPU (measured there: docs/scale.md) and ``torch`` otherwise (another model, device or kind)."""
        if self.backend != "auto":
            return self.backend
        embedded_on_cpu = self.kind == "sentence-transformers" and self.model is None and self.device == "cpu"
        return "onnx-int8" if embedded_on_cpu else "torch"


class FusionMode(str, enum.Enum):
    """How dense and lexical evidence are combined into one score."""

    DENSE = "dense"  # cosine similarity only
    LEXICAL = "lexical"  # BM25 only
    LINEAR = "linear"  # weighted sum of cosine and squashed BM25
    RRF = "rrf"  # reciprocal-rank fusion among the candidates of one step


@dataclass
class RouteConfig:
    """Coarse-to-fine routing over the tree."""

    budget: int = 1024  # max context tokens of kept leaves
    beam_width: int = 8  # internal nodes kept per level (across the whole frontier)
    fusion: FusionMode = FusionMode.LINEAR  # score fusion
    lexical_weight: float = 0.5  # weight of the lexical score in LINEAR fusion
    parent_weight: float = 0.25  # share of the parent's score inherited by a child
    prune_margin: float = 0.35  # branches scoring below best - margin are pruned even inside the beam
    min_score: float | None = None  # drop leaves below this score (None = keep filling the budget)
    overfetch: float = 2.0  # collect candidate leaves worth this many budgets before selecting
    title_bonus: float = 0.3  # leaves of sections the question names by title join the pool with this bonus (0 = off)
    # sections named in the best leaves' text join with this share of that leaf's score (0 = off)
    link_weight: float = 0.8
    link_sources: int = 2  # how many of the best leaves are followed for named sections
    link_fanout: int = 3  # a leaf naming more sections than this (a list, an index page) is not followed
    title_leaves: int = 8  # named sections with more leaves than this are not lifted (left to the descent)
    # weigh every title match by how well the section's own text supports its title (h2mt.index.agreement)
    title_agreement: bool = True
    lexical_leaves: int = 8  # best leaves by leaf-level BM25 that join the candidates whatever their branch (0 = off)
    # the candidates ranked again by reciprocal-rank fusion of the route's order with flat cosine and flat BM25
    # ranks of every leaf (query/fusion.py); the ``flat_keep`` best leaves of the route's own selection stay first
    flat_fusion: bool = True
    flat_keep: int = 3
    # re-ranking of the candidates before selection (query/routing.py, _Search.rerank):
    novelty: float = 0.6  # a leaf's score shrinks by this times the share of its question terms already held
    mmr: float = 0.2  # a leaf's score drops by this times its best cosine with the leaves ranked before it
    coverage: float = 0.2  # ... and rises by this times the idf share of the question's terms it adds
    # a question asking for every instance ("What are all the X ...?", "List all ...") is re-ranked without mmr for a
    # leaf adding a question term, and without novelty for one holding every term the first-ranked leaf holds
    list_questions: bool = True
    # ... and a strong leaf taking more than this share of what is left is cut to an excerpt (1.0 = as any question):
    # the instances of a list question are sentences, and whole leaves would leave no room for the last ones
    list_fill: float = 0.3
    # a leaf too large for what is left of the budget is kept as an excerpt (query/excerpt.py): its sentences
    # holding at least this idf share of the question's terms (0 = off: the leaf is skipped)
    excerpt_share: float = 0.3
    excerpt_top: int = 8  # ... when it ranks among the best this many leaves before the re-ranking (0 = off)
    excerpt_fill: float = 1.0  # such a leaf is also cut when whole it would take more than this share of what is left
    bm25_k1: float = 1.2  # BM25 term-frequency saturation
    bm25_b: float = 0.75  # BM25 length normalisation
    # share of HMT memory search cos(S_q W_q, M W_k) in node scores (0 = off; 1 = alone); needs an index with memories
    memory_weight: float = 0.0

    def __post_init__(self) -> None:
        self.fusion = _enum(FusionMode, self.fusion, "RouteConfig.fusion")
        _check(0 <= self.memory_weight <= 1, f"RouteConfig.memory_weight must be in [0, 1], got {self.memory_weight}")
        if self.budget < 1:
            raise BudgetError(f"The token budget must be >= 1, got {self.budget} (e.g. budget=1024)")
        _check(self.beam_width >= 1, f"RouteConfig.beam_width must be >= 1, got {self.beam_width}")
        _check(0 <= self.lexical_weight <= 1, "RouteConfig.lexical_weight must be in [0, 1]")
        _check(0 <= self.parent_weight < 1, "RouteConfig.parent_weight must be in [0, 1)")
        _check(self.prune_margin > 0, "RouteConfig.prune_margin must be > 0")
        _check(self.overfetch >= 1, "RouteConfig.overfetch must be >= 1")
        _check(self.title_bonus >= 0, "RouteConfig.title_bonus must be >= 0")
        _check(0 <= self.link_weight < 1, "RouteConfig.link_weight must be in [0, 1)")
        _check(self.link_sources >= 0 and self.link_fanout >= 1 and self.title_leaves >= 1,
               "RouteConfig.link_sources must be >= 0, link_fanout and title_leaves >= 1")
        _check(self.lexical_leaves >= 0, f"RouteConfig.lexical_leaves must be >= 0, got {self.lexical_leaves}")
        _check(self.flat_keep >= 0, f"RouteConfig.flat_keep must be >= 0, got {self.flat_keep}")
        _check(0 <= self.excerpt_share <= 1 and self.excerpt_top >= 0 and 0 < self.excerpt_fill <= 1,
               f"RouteConfig.excerpt_share must be in [0, 1], excerpt_top >= 0 and excerpt_fill in (0, 1], got "
               f"{self.excerpt_share}, {self.excerpt_top} and {self.excerpt_fill}")
        _check(self.coverage >= 0, f"RouteConfig.coverage must be >= 0, got {self.coverage}")
        _check(0 < self.list_fill <= 1, f"RouteConfig.list_fill must be in (0, 1], got {self.list_fill}")
        _check(0 <= self.novelty <= 1 and 0 <= self.mmr <= 1,
               f"RouteConfig.novelty and mmr must be in [0, 1], got {self.novelty} and {self.mmr}")


class AnswerTask(str, enum.Enum):
    """The layout of the prompt and the shape of the answer."""

    AUTO = "auto"  # chosen per question (h2mt.query.task): a name or value -> short, what/how/why -> brief
    SHORT = "short"  # short-answer QA: the exact name, value or phrase from the context
    BRIEF = "brief"  # a brief explanation: one or two sentences grounded in the context
    EXPLAIN = "explain"  # an explanation in a few sentences, grounded in the context
    CHAT = "chat"  # a chat model's turn: the caller's messages, no task instruction or stops


TASK_SYSTEM_PROMPTS: dict[AnswerTask, str] = {
    AnswerTask.SHORT: (
        "You answer questions about documents. Reply with the short answer only: the exact name, value or "
        "phrase from the context, without explanation. If the context does not contain the answer, reply: "
        "The context does not say."
    ),
    AnswerTask.BRIEF: (
        "Answer the question using only the context, in one or two sentences, and name the exact identifiers or "
        "values the context gives. If the context does not contain the answer, say so."
    ),
    AnswerTask.EXPLAIN: (
        "Answer the question using only the context, in a few sentences, and name the exact identifiers or "
        "values the context gives. If the context does not contain the answer, say so."
    ),
    AnswerTask.CHAT: "You are a helpful assistant.",
}
TASK_SYSTEM_PROMPTS[AnswerTask.AUTO] = TASK_SYSTEM_PROMPTS[AnswerTask.SHORT]  # auto before it is resolved
TASK_MAX_NEW_TOKENS: dict[AnswerTask, int] = {AnswerTask.AUTO: 48, AnswerTask.SHORT: 48, AnswerTask.BRIEF: 96,
                                             AnswerTask.EXPLAIN: 256, AnswerTask.CHAT: 256}
TASK_STOPS: dict[AnswerTask, tuple[str, ...]] = {
    AnswerTask.AUTO: ("\n\n", "\n## "),  # auto before it is resolved: short's
    AnswerTask.SHORT: ("\n\n", "\n## "),  # one short answer; never an invented breadcrumb heading
    AnswerTask.BRIEF: ("\n\n", "\n## "),  # one paragraph
    AnswerTask.EXPLAIN: ("\n## ",),
    AnswerTask.CHAT: (),
}


class PrefillMode(str, enum.Enum):
    """What the kept leaves become in the prompt: the registry of prefill strategies.

    Each value names its strategy module, ``h2mt.query.prefill.<value>`` (its ``STRATEGY``);
    adding a mode is one member here plus that module (docs/architecture.md section 5).
    """

    TEXT = "text"  # raw text under breadcrumb headings (the default)
    MEMORY = "memory"  # one HMT memory embedding (soft token) per kept leaf, introduced by its title
    HYBRID = "hybrid"  # the best ``text_leaves`` leaves as text, the others as memory embeddings
    KV = "kv"  # each kept leaf's precomputed KV cache (the leaf KV store), re-rotated and joined; question prefilled


class PromptLayout(str, enum.Enum):
    """Where the question goes and how the kept leaves are cut into blocks."""

    DEFAULT = "default"  # the task's layout (short answers: the question before and after the context)
    # every kept leaf one self-contained block (its own breadcrumb line), the question only after the
    # context; the same token ids as kv prefill, so text and kv compare like for like
    BLOCKS = "blocks"


@dataclass(frozen=True)
class KVConfig:
    """KV prefill (:mod:`h2mt.query.prefill.kv`): the leaf KV store and how joined blocks are repaired.

    Blocks are computed once after a shared prefix and joined at query time; attention across
    blocks is then missing. ``recompute_first`` (EPIC) recomputes the first k tokens of every block
    after the first; ``recompute_ratio`` (CacheBlend) recomputes that share of the context tokens
    whose K/V deviate most from a fresh forward through the first ``blend_layer + 1`` layers.
    Recompute everything (``recompute_ratio=1``) and the result is text prefill's. ``adapter``
    switches on a block-attention adapter (:mod:`h2mt.query.prefill.kv_adapter`) for the question
    and the answer only: ``"auto"`` takes the one shipped for the generator (none: off).
    """

    recompute_first: int = 0  # EPIC: first k tokens of each block after the first are recomputed
    recompute_ratio: float = 0.0  # CacheBlend: share of context tokens recomputed, chosen by K/V deviation
    blend_layer: int = 1  # CacheBlend: the layer whose K/V deviation picks the tokens
    dtype: Literal["float16", "float32", "int8"] = "float16"  # storage dtype of cached K/V
    path: str | None = None  # store folder; None = ``<index>.kv`` beside a loaded index, else in memory
    max_bytes: int | None = None  # size cap of the store on disk; least recently used entries go first
    fill: Literal["lazy", "never"] = "lazy"  # lazy: a missing leaf cache is computed and stored on first use
    adapter: str = "off"  # question-time block-attention adapter: off | auto (shipped for the generator) | a folder

    def __post_init__(self) -> None:
        _check(self.recompute_first >= 0, f"KVConfig.recompute_first must be >= 0, got {self.recompute_first}")
        _check(0.0 <= self.recompute_ratio <= 1.0,
               f"KVConfig.recompute_ratio must be in [0, 1], got {self.recompute_ratio}")
        _check(self.blend_layer >= 0, f"KVConfig.blend_layer must be >= 0, got {self.blend_layer}")
        _check(self.dtype in ("float16", "float32", "int8"),
               f"KVConfig.dtype must be float16, float32 or int8, got {self.dtype!r}")
        _check(self.max_bytes is None or self.max_bytes > 0, "KVConfig.max_bytes must be > 0 (None = no cap)")
        _check(self.fill in ("lazy", "never"), f"KVConfig.fill must be lazy or never, got {self.fill!r}")
        _check(bool(self.adapter), "KVConfig.adapter must be off, auto or an adapter folder")


@dataclass(frozen=True)
class PrefillConfig:
    """Prompt layout and generation; ``task`` picks the instruction, answer length and stop strings.

    ``system_prompt`` and ``max_new_tokens`` left at ``""`` / ``0`` mean the task's, resolved on
    read (:attr:`system_message`, :attr:`answer_tokens`), so ``replace(cfg, task=...)`` gets the
    new task's defaults. The config never changes its own fields. ``task="auto"`` is resolved per
    question by :func:`h2mt.query.task.resolve_task` (the prompt, generation and answer steps all
    do); read before that it stands for ``short``.
    """

    # auto (per question: h2mt.query.task.choose_task) | short answer | brief | explanation | plain chat turn
    task: AnswerTask = AnswerTask.AUTO
    system_prompt: str = ""  # system message; "" = the task's (TASK_SYSTEM_PROMPTS)
    max_new_tokens: int = 0  # generation limit; 0 = the task's (TASK_MAX_NEW_TOKENS)
    temperature: float = 0.0  # 0 = greedy decoding
    top_p: float = 1.0  # nucleus sampling when temperature > 0
    repetition_penalty: float = 1.1  # >1 discourages repeating tokens already generated (not the prompt)
    breadcrumbs: bool = True  # put each kept leaf under its heading path
    stop: tuple[str, ...] = ()  # extra stop strings, after the task's (see ``stops``)
    seed: int | None = None  # sampling seed
    mode: PrefillMode = PrefillMode.TEXT  # text | memory | hybrid (memory modes need an index with HMT memories)
    text_leaves: int = 1  # hybrid: this many top-scoring kept leaves stay raw text
    layout: PromptLayout | None = None  # None = blocks for kv prefill, else the task's default layout
    kv: KVConfig = field(default_factory=KVConfig)  # kv prefill: store and recompute
    # task="auto": the generator re-ranks this many leading kept leaves by query likelihood before a
    # brief answer (with focus_sentences=0: whole leaves) or a described name picks its passages
    # (h2mt.query.likelihood); 0 = off
    rerank_leaves: int = 0
    # the reply's first token is chosen only among the first tokens of these words (local generators;
    # a server that templates the messages itself ignores it); () = any token
    first_words: tuple[str, ...] = ()
    # the reply's first token is none of the first tokens of these words (local generators; a server ignores it)
    not_first_words: tuple[str, ...] = ()
    # task="auto": a short answer to a name question that only echoes the question ("which shopt setting ...?" ->
    # "shopt") is asked once more as a short answer that may not start with the echoed word (not_first_words; local
    # generators), before the brief retry. Off by default: of 45 echoed answers, one more right (docs/benchmarks.md,
    # stop 54)
    echo_short_retry: bool = False
    # task="auto": a yes/no question's generated brief answer starts with the generator's choice between
    # "Yes" and "No" (first_words), the rest generated after it; off: no gain measured on blind questions
    verdict_first: bool = False
    # task="auto": a yes/no, "what happens", "what does X do", "how..." or "what is the purpose of..." question
    # (h2mt.query.evidence.PLACED_QUOTE_REASONS) is answered by quoting the three
    # kept sentences ranked best in their places (each read with its heading and entry name, BM25 fused
    # with the encoder's cosine: h2mt.query.evidence.placed_quote); off: the rules before it
    placed_sentences: bool = True
    # task="auto": a name or value question asking what holds when something is left out ("If I omit the port,
    # which port...?") is answered by quoting the kept sentences ranked best that state a default
    # (h2mt.query.entries.default_quote); off: the default a kept entry states, else the generator
    quote_defaults: bool = True
    # task="auto": a question that no task rule recognises (h2mt.query.task.choose_task's reason "default"),
    # written in the first person ("my script...", "I run...": h2mt.query.task.in_first_person) and asking for
    # neither an entry's name nor a symbol, is answered by quoting the three kept sentences ranked best in their
    # places (h2mt.query.evidence.placed_quote) where the generator would write it; off: generated
    # (docs/benchmarks.md, stop 52)
    quote_unmatched: bool = True
    # task="auto": any other question the generator would answer (no quote, entry, default or symbol rule took it)
    # that is about the user's own work or about code (first person or a code form: h2mt.query.task.about_own_work)
    # and asks for neither an entry's name nor a symbol (h2mt.query.entries.asks_for_name,
    # h2mt.query.symbols.asks_for_symbol) is answered by quoting the three kept sentences ranked best in their
    # places (h2mt.query.evidence.placed_quote) where the generator would write it; off: generated. A trivia
    # question (third person, no code: HotpotQA's) stays generated. Off by default: +0.012 (+0.002 to +0.022) on
    # the 1,200 questions it was chosen on, +0.000 on 150 blind ones (docs/benchmarks.md, stop 56)
    quote_non_names: bool = False
    # task="auto": a quoted answer of several kept sentences shows each in its place, "<context>: <sentence>"
    # (the heading and entry name the sentence ranking reads it with, once for a run of sentences sharing it:
    # "set -e: Exit immediately if..."; h2mt.query.evidence.quote_text); off: the sentences alone
    quote_places: bool = False
    # task="auto": a question asking for an entry's name that no kept entry answers by itself is answered by a name
    # of what the generator reads, chosen by it under constrained decoding (h2mt.query.names; local generators);
    # off (the generator writes the name freely): 74 against 59 right of 149 such questions (docs/benchmarks.md,
    # stop 51)
    constrain_names: bool = False
    # task="auto": a short answer that fails its check (h2mt.query.answer.retry_reason) to a question asking for
    # neither a symbol nor an entry's name is replaced by the kept sentences ranked best in their places
    # (h2mt.query.evidence.placed_quote), when the best holds enough of the question; off (asked again, brief):
    # no gain measured on blind questions (docs/benchmarks.md)
    quote_retries: bool = False
    # task="auto": the kept sentences ranked in their places are re-ranked by the learned sentence ranker shipped
    # for the index's encoder (h2mt.query.sentence_ranker) before the quotes and a sentence's default are taken;
    # off (or no weights for the encoder): the fused order. Off by default: the evidence ranks first more often,
    # but no more answers were right on blind questions (docs/benchmarks.md, stop 45)
    sentence_ranker: bool = False
    # task="auto": the kept sentences ranked in their places are re-ranked by the cross-encoder shipped for the
    # index's encoder (h2mt.query.cross_ranker: the question and each of the 24 best sentences read together by the
    # encoder with trained adapters) before the quotes, a sentence's default and the focus sentences are taken;
    # it applies instead of sentence_ranker when both are on. Off by default: the evidence is among the sentences a
    # quote takes more often, but the answers gained +0.010 (-0.017 to +0.037) on 1,050 blind questions while each
    # pays ~0.7 s on a CPU (docs/benchmarks.md, stops 53, 55 and 56)
    cross_ranker: bool = False
    # with cross_ranker: where its order applies. "all": every use of the kept sentences ranked in their places
    # (quotes, the focus a generated answer reads, a default's sentence, sentence-first selection); "quotes": only
    # the sentences a quote takes, once the fused order has decided that the answer is a quote (whether to quote,
    # what a generated answer reads and the candidates of a symbol or name stay the fused order's). "quotes" gained
    # +0.021 (-0.002 to +0.044) on the 900 questions it was chosen on and +0.000 on 150 blind ones (docs/benchmarks.md,
    # stop 55)
    cross_ranker_scope: Literal["all", "quotes"] = "all"
    # task="auto": the route gathers this many times the budget, the gathered sentences are ranked in their places
    # (with cross_ranker, by the cross-encoder) and the budget goes to the leaves of the best-ranked sentences first,
    # then to the rest in the route's order (sentence-first selection); 1 = the route's own selection
    sentence_pool: float = 1.0
    # task="auto": a short or brief answer the generator writes reads only the kept sentences ranked best in their
    # places (this many, each with the sentence before and after it: h2mt.query.evidence.focus_sentences) instead
    # of whole leaves; 0 = whole leaves. A third of the prompt, as many answers right (docs/benchmarks.md, stop 46).
    # Text prefill only: kv prefill reuses the whole leaves' stored caches, memory and hybrid read memory tokens
    focus_sentences: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", _enum(AnswerTask, self.task, "PrefillConfig.task"))
        object.__setattr__(self, "mode", _enum(PrefillMode, self.mode, "PrefillConfig.mode"))
        if self.layout is not None:
            object.__setattr__(self, "layout", _enum(PromptLayout, self.layout, "PrefillConfig.layout"))
        _check(not (self.mode == PrefillMode.KV and self.layout == PromptLayout.DEFAULT),
               "PrefillConfig: kv prefill needs layout='blocks' (each leaf a cached block, the question after them)")
        _check(isinstance(self.kv, KVConfig), "PrefillConfig.kv must be a KVConfig")
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "first_words", tuple(self.first_words))
        object.__setattr__(self, "not_first_words", tuple(self.not_first_words))
        _check(all(isinstance(w, str) and w.strip() for w in self.not_first_words),
               "PrefillConfig.not_first_words must be non-empty words, e.g. ('shopt',)")
        _check(all(isinstance(w, str) and w.strip() for w in self.first_words),
               "PrefillConfig.first_words must be non-empty words, e.g. ('Yes', 'No')")
        _check(self.text_leaves >= 0, "PrefillConfig.text_leaves must be >= 0")
        _check(self.rerank_leaves >= 0, "PrefillConfig.rerank_leaves must be >= 0 (0 = no re-ranking)")
        _check(self.sentence_pool >= 1.0, "PrefillConfig.sentence_pool must be >= 1 (1 = the route's own selection)")
        _check(self.cross_ranker_scope in ("all", "quotes"),
               f"PrefillConfig.cross_ranker_scope must be 'all' or 'quotes', not {self.cross_ranker_scope!r}")
        _check(self.focus_sentences >= 0, "PrefillConfig.focus_sentences must be >= 0 (0 = whole leaves)")
        _check(self.max_new_tokens >= 0, "PrefillConfig.max_new_tokens must be >= 1 (0 = the task's default)")
        _check(self.temperature >= 0, "PrefillConfig.temperature must be >= 0")
        _check(0 < self.top_p <= 1, "PrefillConfig.top_p must be in (0, 1]")
        _check(self.repetition_penalty >= 1.0, "PrefillConfig.repetition_penalty must be >= 1")

    @property
    def prompt_layout(self) -> PromptLayout:
        """The layout in effect: ``layout``, else blocks for kv prefill and the default otherwise."""
        if self.layout is not None:
            return self.layout
        return PromptLayout.BLOCKS if self.mode == PrefillMode.KV else PromptLayout.DEFAULT

    @property
    def system_message(self) -> str:
        """The system message: ``system_prompt``, else the task's."""
        return self.system_prompt or TASK_SYSTEM_PROMPTS[self.task]

    @property
    def answer_tokens(self) -> int:
        """The generation limit: ``max_new_tokens``, else the task's."""
        return self.max_new_tokens or TASK_MAX_NEW_TOKENS[self.task]

    @property
    def stops(self) -> tuple[str, ...]:
        """Every stop string: the task's, then ``stop``."""
        return tuple(dict.fromkeys((*TASK_STOPS[self.task], *self.stop)))


@dataclass
class BackendConfig:
    """The local causal LM."""

    # preset (qwen2.5-coder-0.5b, smollm2-135m), HF folder or GGUF; None = $H2MT_MODEL or the default preset
    model: str | None = None
    gguf_file: str | None = None  # GGUF file name inside ``model`` when ``model`` is a folder
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # compute dtype
    quantization: Literal["auto", "none", "int8", "nf4"] = "auto"  # auto = nf4 on CUDA, none on CPU
    attn_implementation: str | None = None  # None = transformers default (sdpa)
    trust_remote_code: bool = False  # never run model-repo code unless asked
    cache_dir: str | None = None  # where converted GGUF weights are cached (None = user cache)
    kind: Literal["local", "openai"] = "local"  # local = in-process transformers; openai = an OpenAI-compatible server
    base_url: str | None = None  # kind=openai: the server's API root, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # kind=openai: environment variable holding the API key (unset = no key)
    # kind=openai: local preset/HF folder/GGUF whose tokenizer counts budgets (None = default generator's)
    tokenizer: str | None = None
    context_window: int | None = None  # kind=openai: the served model's window (None = the local tokenizer's limit)
    timeout_s: float = 120.0  # kind=openai: seconds to wait for each piece of the reply
    connect_timeout_s: float = 5.0  # kind=openai: seconds to wait for a connection
    max_retries: int = 3  # kind=openai: retries of a failed connection (with backoff); 4xx replies are not retried
    streaming: bool = True  # kind=openai: False = one non-streamed request (usage always reported; TTFT = whole reply)

    def __post_init__(self) -> None:
        _check(self.kind in ("local", "openai"), f"BackendConfig.kind must be local or openai, got {self.kind!r}")
        if self.kind == "openai":
            _check(
                isinstance(self.base_url, str) and self.base_url.startswith(("http://", "https://")),
                f"BackendConfig(kind='openai') needs base_url=http(s)://HOST:PORT/v1, got {self.base_url!r}",
            )
        else:
            _check(self.base_url is None, "BackendConfig.base_url is for a server: set kind='openai' as well")
        _check(self.timeout_s > 0 and self.connect_timeout_s > 0, "BackendConfig timeouts must be > 0 seconds")
        _check(self.max_retries >= 0, "BackendConfig.max_retries must be >= 0")
        _check(self.context_window is None or self.context_window >= 16, "BackendConfig.context_window must be >= 16")
        _check(
            self.dtype in ("auto", "float32", "bfloat16", "float16"),
            f"BackendConfig.dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}",
        )
        _check(
            self.quantization in ("auto", "none", "int8", "nf4"),
            f"BackendConfig.quantization must be auto, none, int8 or nf4, got {self.quantization!r}",
        )


@dataclass
class MemoryConfig:
    """HMT node memories made by the generator at build time (opt-in)."""

    kind: Literal["none", "hmt"] = "none"  # none = no memories; hmt = HMT memory + summary key per node
    weights: str | None = None  # HMT memory folder; None = the one shipped for the loaded generator (by fingerprint)
    aggregate: Literal["recall", "mean"] = "recall"  # internal nodes: HMT cross-attention pooling or plain mean
    dtype: Literal["float16", "float32"] = "float16"  # storage dtype of the memory arrays in the index

    def __post_init__(self) -> None:
        _check(self.kind in ("none", "hmt"), f"MemoryConfig.kind must be none or hmt, got {self.kind!r}")
        _check(self.aggregate in ("recall", "mean"),
               f"MemoryConfig.aggregate must be recall or mean, got {self.aggregate!r}")
        _check(self.dtype in ("float16", "float32"),
               f"MemoryConfig.dtype must be float16 or float32, got {self.dtype!r}")


@dataclass
class H2MTConfig:
    """All stage configs together."""

    chunk: ChunkConfig = field(default_factory=ChunkConfig)  # leaves
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)  # tree + aggregation
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # node embeddings
    route: RouteConfig = field(default_factory=RouteConfig)  # routing
    prefill: PrefillConfig = field(default_factory=PrefillConfig)  # prompt + generation
    backend: BackendConfig = field(default_factory=BackendConfig)  # local LM
    memory: MemoryConfig = field(default_factory=MemoryConfig)  # HMT node memories (build) and their weights
