"""The facade: ``H2MT.build()``, ``.route()``, ``.answer()``; composes stages, holds no algorithm."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .aio import aiter_blocking, run_blocking
from .backends.base import Backend
from .config import AnswerTask, H2MTConfig, KVConfig, PrefillConfig, PrefillMode, RouteConfig
from .counting import CountFn, TokenCounter, counter_name
from .errors import ConfigError, InputError
from .index.build import build_index, index_leaves
from .index.encoders.base import Encoder, load_encoder
from .index.external import LeafInput, documents_from_leaves
from .index.index import Index
from .index.store import load_index, save_index
from .index.update import combine, document_key, matching_documents
from .query.answer import (
    ECHO_REASON,
    NOT_FOUND,
    VERDICT_WORDS,
    clean_answer,
    focus_sources,
    is_lookup,
    lead_passage,
    passage_text,
    rank_sources,
    retry_reason,
    with_unit,
    with_verdict,
)
from .query.entries import (
    Entry,
    asks_for_default,
    asks_for_name,
    asks_what_is_assumed,
    default_quote,
    described_entries,
    detail_sentence,
    entry_source,
    named_entry,
    opening,
    option_sentence,
    sentence_contexts,
    sentence_default,
    signature_default,
    stated_default,
    whole_entries,
)
from .query.evidence import (
    PLACED_QUOTE_REASONS,
    QUOTE_REASONS,
    REPLACE_MIN_COVERAGE,
    Sentence,
    evidence_quote,
    focus_sentences,
    placed_quote,
    quote_generation,
    quote_text,
    rank_sentences,
)
from .query.evidence import placed as placed_text  # the name "placed" is _Signals.placed's
from .query.generate import Generation, generate
from .query.likelihood import can_score, likelihoods
from .query.names import name_candidates
from .query.prefill.base import PromptTools, prefill_strategy
from .query.prompt import Prompt, build_prompt
from .query.routing import route
from .query.select import by_sentences
from .query.symbols import asks_for_symbol, evidence_symbols, symbol_generation
from .query.task import UNMATCHED_REASON, TaskChoice, about_own_work, choose_task, in_first_person
from .types import Accounting, Answer, GenerationStats, Node, NodeKind, ParsedDocument, RouteResult, ScoredNode

if TYPE_CHECKING:
    from pathlib import Path

    from .index.distributed import RayExecutor
    from .query.cross_ranker import CrossRanker
    from .query.prefill.kv_store import KVStore
    from .query.prefill.kv_stores import KVStores
    from .query.prefill.memory import MemoryReader
    from .query.sentence_ranker import SentenceRanker

__all__ = ["H2MT", "AnswerStream"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class AnswerStream:
    """Iterate to receive answer text pieces; :attr:`answer` is complete once iteration ends.

    With ``retry`` (a short answer under ``task="auto"``) the first generation is checked before
    anything is shown: ``retry(generation)`` returns a second generation to stream instead, or
    ``None``, and then the checked answer's text is the one piece."""

    def __init__(self, generation: Generation, finish: Callable[[list[Generation]], Answer],
                 retry: Callable[[Generation], Generation | None] | None = None) -> None:
        self._generation = generation
        self._finish = finish
        self._retry = retry
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._retry is None:
            yield from self._generation
            self.answer = self._finish([self._generation])
            return
        self._generation.run()
        again = self._retry(self._generation)
        if again is None:
            self.answer = self._finish([self._generation])
            if self.answer.text:
                yield self.answer.text
            return
        yield from again
        self.answer = self._finish([self._generation, again])


def _quoted(question: str, found: tuple[list[Sentence], list[ScoredNode]], cfg: PrefillConfig,
            ) -> tuple[Prompt, Generation]:
    """A quote's prompt (what it stands on: the kept leaves cut to its sentences; nothing is
    prefilled) and the quote itself, ``found``'s sentences joined, best first."""
    sentences, cut = found
    return build_prompt(question, cut, cfg), quote_generation(quote_text(sentences, cfg.quote_places))


def _placed_answer(question: str, found: tuple[list[Sentence], list[ScoredNode]], cfg: PrefillConfig,
                   by_ranker: str, why: str = "",
                   ) -> tuple[Prompt, Generation, str, Literal["generated", "quoted", "constrained"]]:
    """:func:`_quoted` for the kept sentences ranked best in their places, with the accounting's note
    (how many, the best one's coverage of the question, and ``why`` they were quoted)."""
    note = (f"quoted the {len(found[0])} sentences ranked best in their places{by_ranker} "
            f"({found[0][0].coverage:.2f}){why}")
    return *_quoted(question, found, cfg), note, "quoted"


UNMATCHED_WHY = ", for a question no rule recognises"  # the note's end under quote_unmatched
NON_NAME_WHY = ", for a question asking for neither a name nor a symbol"  # under quote_non_names


def _aligned(sim: dict[int, float], sources: Sequence[ScoredNode]) -> list[float] | None:
    """``sim``'s cosine for each of ``sources`` in order, or ``None`` when one has none."""
    if not sources or any(s.node.id not in sim for s in sources):
        return None
    return [sim[s.node.id] for s in sources]


class _Signals:
    """How one question's kept leaves are ranked (:func:`h2mt.query.answer.rank_passages`), each
    signal computed once, when first needed: the cosines of their embeddings with the question's
    (one encoder call) and, with ``rerank`` leaves, the generator's query likelihood of the leading
    ``rerank`` kept leaves (:func:`h2mt.query.likelihood.likelihoods`). Both are off (``None``)
    unless ``task="auto"``. With ``placed`` (``PrefillConfig.placed_sentences``), also what ranks
    the kept sentences in their places (:meth:`placed`: each sentence's context and the encoder's
    cosine of the sentence so placed, each text encoded once)."""

    def __init__(self, engine: H2MT, question: str, kept: list[ScoredNode], auto: bool, rerank: int,
                 placed: bool = True, ranker: bool = False, cross: bool = False,
                 cross_scope: Literal["all", "quotes"] = "all") -> None:
        self._engine, self._question, self._kept, self._auto, self._rerank = engine, question, kept, auto, rerank
        self._placed = placed
        self._cross = engine.cross_ranker if cross and auto else None  # the cross-encoder, before the linear ranker
        self._quotes_only = self._cross is not None and cross_scope == "quotes"  # its order: a quote's sentences only
        self._crossed = False  # under "quotes": whether the last quote was taken in the cross-encoder's order
        self._ranker = engine.sentence_ranker if ranker and self._cross is None else None
        self._cosines: dict[int, float] | None = None  # node id -> cosine
        self._likelihood: dict[int, float] | None = None  # node id -> mean log p(question | leaf)
        self._placements: dict[str, Any] = {}  # a placed sentence -> its (D,) unit embedding
        self._asked: Any = None  # (D,) the question's unit embedding
        self.rerank_ms = 0.0
        self.cross_ms = 0.0  # time in the cross-encoder ranker
        self._cross_orders: dict[tuple[tuple[str, str], ...], list[int]] = {}  # its order of each candidate list

    def placed(self, sources: Sequence[ScoredNode], always: bool = False, quote: bool = False) -> dict[str, Any]:
        """The keyword arguments that rank the kept sentences of ``sources`` in their places
        (:func:`h2mt.query.evidence.rank_sentences`: ``contexts`` and ``meaning``); none unless
        ``task="auto"`` with ``placed_sentences`` (or ``always``: a default is quoted from sentences
        so ranked whatever ``placed_sentences`` says). A learned ranker's ``rerank`` joins them when it is
        on, the cross-encoder under ``cross_ranker_scope="quotes"`` only for the sentences a quote takes
        (``quote``)."""
        if not self._auto or not (self._placed or always) or not sources:
            return {}
        before = [self._engine._leaf_before(s.node) for s in sources]
        found: dict[str, Any] = {"contexts": sentence_contexts(sources, before), "meaning": self._meaning}
        if self._ranker is not None or (self._cross is not None and (quote or not self._quotes_only)):
            found["rerank"] = self._reranked
        return found

    def quote(self, take: Callable[[bool], _T | None]) -> _T | None:
        """What ``take(quote)`` quotes, ``quote`` saying whether :meth:`placed` and :meth:`learned` rank for a
        quote's sentences. Under ``cross_ranker_scope="quotes"`` the fused order decides whether there is a
        quote, then it is taken again in the cross-encoder's order (the fused order's when that gives none);
        otherwise ``quote`` changes nothing and ``take`` runs once."""
        self._crossed = False
        found = take(False)
        if found is None or not self._quotes_only:
            return found
        again = take(True)
        self._crossed = again is not None
        return again if again is not None else found

    def keep(self, kept: list[ScoredNode]) -> None:
        """The kept leaves are now ``kept`` (sentence-first selection cut the route's): what depends on
        them is computed again when asked; what depends on a text alone (embeddings, the cross-encoder's
        orders) is kept."""
        self._kept, self._cosines, self._likelihood = kept, None, None

    def _embedded(self, texts: Sequence[str]) -> Any:
        """(N, D) unit embeddings of ``texts`` (the index's encoder; each text encoded once)."""
        import numpy as np

        enc = self._engine.encoder
        if self._asked is None:
            self._asked = enc.encode([self._question])[0]  # (D,) unit
        new = list(dict.fromkeys(t for t in texts if t not in self._placements))
        if new:
            self._placements.update(zip(new, enc.encode(new), strict=True))  # (N, D)
        return np.stack([self._placements[t] for t in texts]) if texts else np.zeros((0, len(self._asked)))

    def _meaning(self, texts: Sequence[str]) -> list[float]:
        """The cosine of each of ``texts`` with the question."""
        return [float(c) for c in self._embedded(texts) @ self._asked]  # (N, D) @ (D,) -> (N,)

    def _reranked(self, sentences: Sequence[Sentence], contexts: Sequence[str]) -> list[int]:
        """The learned order of the fused ``sentences``: the cross-encoder's
        (:class:`h2mt.query.cross_ranker.CrossRanker`) or the linear ranker's
        (:class:`h2mt.query.sentence_ranker.SentenceRanker`)."""
        from .query.sentence_ranker import features

        if self._cross is not None:  # one forward per distinct candidate list: the rules rank the same kept text
            key = tuple(zip((s.text for s in sentences), contexts, strict=True))
            if key not in self._cross_orders:
                t0 = time.perf_counter()
                self._cross_orders[key] = self._cross.order(self._question, sentences, contexts)
                self.cross_ms += (time.perf_counter() - t0) * 1000.0
            return self._cross_orders[key]
        assert self._ranker is not None
        head = min(self._ranker.top, len(sentences))
        placed_texts = [placed_text(s.text, c) for s, c in zip(sentences[:head], contexts[:head], strict=True)]
        feats = features(sentences[:head], contexts[:head], self._meaning(placed_texts))  # (head, F)
        return self._ranker.order(feats, self._asked, self._embedded(placed_texts)) + list(range(head, len(sentences)))

    def learned(self, sources: Sequence[ScoredNode], quote: bool = False) -> list[Sentence] | None:
        """The sentences of ``sources`` in the learned order (in their places, fused, re-ranked),
        or ``None`` when no learned ranker applies (off; the cross-encoder under
        ``cross_ranker_scope="quotes"`` without ``quote``)."""
        places = self.placed(sources, always=True, quote=quote)
        if "rerank" not in places or not sources:
            return None
        return rank_sentences(self._question, [s.node.text for s in sources], **places)

    @property
    def by_ranker(self) -> str:
        """What an answer's note adds when a learned sentence ranker ordered its sentences ("" when off, and
        under ``cross_ranker_scope="quotes"`` when the last quote kept the fused order's)."""
        if self._cross is not None and (self._crossed or not self._quotes_only):
            return " (re-ranked by the cross-encoder sentence ranker)"
        return " (re-ranked by the learned sentence ranker)" if self._ranker is not None else ""

    @property
    def leaves_reranked(self) -> int:
        """How many kept leaves the generator scored (0 until :meth:`likelihood` first runs)."""
        return len(self._likelihood or {})

    def similarity(self, sources: Sequence[ScoredNode]) -> list[float] | None:
        """The cosine of each of ``sources`` (kept leaves), or ``None``."""
        if not self._auto:
            return None
        if self._cosines is None:
            self._cosines = self._engine._similarity(self._question, self._kept)
        return _aligned(self._cosines, sources)

    def likelihood(self, sources: Sequence[ScoredNode]) -> dict[int, float] | None:
        """Index in ``sources`` -> the query likelihood of that kept leaf, for the leaves scored;
        ``None`` when re-ranking is off or the generator gives no log-probabilities."""
        if not self._auto or self._rerank < 1 or len(self._kept) < 2 or not can_score(self._engine.backend):
            return None
        if self._likelihood is None:
            lead = rank_sources(self._question, self._kept, self.similarity(self._kept))[:self._rerank]
            passages = [passage_text(self._kept[i]) for i in lead]
            scores, self.rerank_ms = likelihoods(self._engine.backend, self._question, passages)
            self._likelihood = {self._kept[i].node.id: v for i, v in zip(lead, scores, strict=True)}
        return {i: self._likelihood[s.node.id] for i, s in enumerate(sources) if s.node.id in self._likelihood}


class H2MT:
    """A built or loaded hierarchy plus the encoder and (lazily) the local generator."""

    def __init__(
        self,
        index: Index,
        config: H2MTConfig | None = None,
        *,
        encoder: Encoder | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.index = index
        self.config = config or H2MTConfig()
        self._encoder = encoder
        self._backend = backend
        self._hmt: Any = None  # HMT on the generator, loaded on first memory use
        self._reader: MemoryReader | None = None
        self._lock = threading.RLock()
        self.path: str | None = None  # the index file loaded or last saved (its leaf KV store sits beside it)
        self._kv_stores: KVStores | None = None  # the leaf KV stores, opened on first kv use
        self._sentence_ranker: SentenceRanker | None | Literal[False] = False  # False: not looked up yet
        self._cross_ranker: CrossRanker | None | Literal[False] = False  # False: not looked up yet
        if encoder is not None:
            self._check_encoder(encoder)

    # ---- construction -------------------------------------------------
    @classmethod
    def build(
        cls,
        sources: Iterable[str | os.PathLike[str] | ParsedDocument],
        config: H2MTConfig | None = None,
        *,
        encoder: Encoder | None = None,
        backend: Backend | None = None,
        token_counter: CountFn | None = None,
        progress: bool = False,
        executor: RayExecutor | None = None,
        memories: Literal["none", "hmt"] | None = None,
    ) -> H2MT:
        """Parse, chunk, build the hierarchy and its memory embeddings over ``sources``.

        With ``executor`` (:class:`h2mt.index.distributed.RayExecutor`) parsing, chunking and encoding
        run on Ray; the result is the same index (the encoder is then loaded here on first query).
        ``memories="hmt"`` (or ``config.memory.kind``) also gives every node an HMT memory made
        by the generator (``config.memory.weights``, default: the shipped memory)."""
        cfg = config or H2MTConfig()
        if memories is not None:
            cfg = replace(cfg, memory=replace(cfg.memory, kind=memories))
        if executor is not None:
            index = executor.build_index(sources, cfg, encoder=encoder, token_counter=token_counter, progress=progress)
            eng = cls(index, cfg, encoder=encoder, backend=backend)
        else:
            enc = encoder or load_encoder(cfg.encoder, backend)
            count, tok_name = cls._counter(cfg, backend, token_counter)
            index = build_index(sources, cfg, enc, count, progress=progress, tokenizer_name=tok_name)
            eng = cls(index, cfg, encoder=enc, backend=backend)
        if cfg.memory.kind == "hmt":
            eng.add_memories(progress=progress)
        return eng

    @classmethod
    def from_leaves(
        cls,
        leaves: Sequence[LeafInput],
        config: H2MTConfig | None = None,
        *,
        encoder: Encoder | None = None,
        backend: Backend | None = None,
        token_counter: CountFn | None = None,
    ) -> H2MT:
        """Build over pre-chunked external leaves (one leaf each, ``ref`` kept), structured by their paths."""
        cfg = config or H2MTConfig()
        enc = encoder or load_encoder(cfg.encoder, backend)
        count, tok_name = cls._counter(cfg, backend, token_counter)
        docs, lv = documents_from_leaves(leaves, count)
        eng = cls(index_leaves(docs, lv, cfg, enc, tokenizer_name=tok_name), cfg, encoder=enc, backend=backend)
        if cfg.memory.kind == "hmt":
            eng.add_memories()
        return eng

    @staticmethod
    def _counter(cfg: H2MTConfig, backend: Backend | None, given: CountFn | None) -> tuple[CountFn, str]:
        """The counter budgets are measured with, and the name the index records for it."""
        if given is not None:
            return given, counter_name(given)
        if backend is not None:
            counter = TokenCounter.for_backend(backend)
        else:
            from .backends import load_counter

            counter = load_counter(cfg.backend)
        return counter, counter.name

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        config: H2MTConfig | None = None,
        *,
        encoder: Encoder | None = None,
        backend: Backend | None = None,
    ) -> H2MT:
        """Load a saved index (no re-encoding); the encoder it was built with is reused."""
        eng = cls(load_index(path), config, encoder=encoder, backend=backend)
        eng.path = os.fspath(path)
        return eng

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically to ``path`` (its leaf KV store, if any, is ``<path>.kv``)."""
        save_index(self.index, path)
        self.path = os.fspath(path)

    # ---- incremental updates -----------------------------------------
    def add(
        self,
        sources: Iterable[str | os.PathLike[str] | ParsedDocument],
        *,
        token_counter: CountFn | None = None,
        progress: bool = False,
    ) -> int:
        """Parse, chunk and encode only ``sources`` and add them; a source already in the
        index is replaced. Returns the number of documents added."""
        cfg = self.config
        built_with = str(self.index.meta.get("tokenizer", ""))
        if token_counter is None and self._backend is None and cfg.backend.model is None and os.path.isdir(built_with):
            cfg = replace(cfg, backend=replace(cfg.backend, model=built_with))  # count as the build did
        count, tok_name = self._counter(cfg, self._backend, token_counter)
        new = build_index(sources, self.config, self.encoder, count, progress=progress, tokenizer_name=tok_name)
        if self.index.has_memories:  # the new documents get memories from the same HMT
            self.add_memories(new, progress=progress)
        same = matching_documents(self.index.documents, [d["key"] for d in new.documents],
                                  [d["sha256"] for d in new.documents])  # same file, any spelling, or same text
        keep = [i for i in range(len(self.index.documents)) if i not in same]
        parts = [(self.index, keep), (new, range(len(new.documents)))]
        self._forget_kv([str(self.index.documents[i].get("key") or "") for i in same])
        self._set_index(combine(parts, self.encoder, self.config.hierarchy))
        return len(new.documents)

    def remove(self, sources: Iterable[str | os.PathLike[str]]) -> int:
        """Remove the documents whose ``source`` is listed (any spelling of the same path);
        returns how many were removed."""
        given = [os.fspath(s) for s in sources]
        gone = set(given)
        hit = matching_documents(self.index.documents, [*given, *(document_key(s) for s in given)])
        keep = [i for i in range(len(self.index.documents)) if i not in hit]
        removed = len(self.index.documents) - len(keep)
        if removed == 0:
            known = ", ".join(d["source"] for d in self.index.documents[:5])
            raise InputError(f"None of {sorted(gone)} is in the index (documents: {known}...)")
        self._forget_kv([str(self.index.documents[i].get("key") or "") for i in hit])
        self._set_index(combine([(self.index, keep)], self.encoder, self.config.hierarchy))
        return removed

    def _set_index(self, index: Index) -> None:
        """Adopt an updated index; its root memory is re-aggregated from its documents."""
        if index.has_memories:
            from .index.memories import refresh_root

            refresh_root(index, self.hmt, self.backend.tokenizer)
        self.index, self._reader = index, None

    # ---- the leaf KV store (kv prefill) -----------------------------------
    def kv_root(self, config: PrefillConfig | None = None) -> str | None:
        """The leaf KV store's folder: ``config.kv.path``, else ``<index>.kv`` beside the loaded or
        saved index, else ``None`` (kept in memory for this engine's life)."""
        from .query.prefill.kv_store import store_path

        cfg = (config or self.config.prefill).kv
        if cfg.path is not None:
            return cfg.path
        return os.fspath(store_path(self.path)) if self.path is not None else None

    @property
    def _kv(self) -> KVStores:
        with self._lock:
            if self._kv_stores is None:
                from .query.prefill.kv_stores import KVStores

                root = lambda kv: self.kv_root(replace(self.config.prefill, kv=kv))  # noqa: E731
                self._kv_stores = KVStores(lambda: self.backend, root)
            return self._kv_stores

    def kv_store(self, prefix_ids: Sequence[int], kv: KVConfig | None = None) -> KVStore:
        """The leaf KV store of this index, the loaded generator and the prefix ``prefix_ids``."""
        return self._kv.store(prefix_ids, kv or self.config.prefill.kv)

    def _kv_prompts(self, config: PrefillConfig | None) -> list[Prompt]:
        """Every leaf of the index as a kv prompt (blocks, prefix and store; no question), one per task
        the shared prefix can open with (``auto`` answers in the short or the brief layout)."""
        cfg = replace(config or self.config.prefill, mode=PrefillMode.KV, layout=None)
        tasks = (AnswerTask.SHORT, AnswerTask.BRIEF) if cfg.task == AnswerTask.AUTO else (cfg.task,)
        return [self.prompt("", self.full_context(), replace(cfg, task=t)) for t in tasks]

    def kv_build(self, config: PrefillConfig | None = None, *, progress: bool = False,
                 rebuild: bool = False) -> dict[str, Any]:
        """Fill the leaf KV store with every leaf's block, for each prefix a question can open with
        (stored leaves are kept: resumable; ``rebuild`` clears first); see
        :meth:`h2mt.query.prefill.kv_stores.KVStores.build`."""
        return self._kv.build(self._kv_prompts(config), progress=progress, rebuild=rebuild)

    def kv_prune(self, config: PrefillConfig | None = None, max_bytes: int | None = None) -> dict[str, Any]:
        """Delete stored leaves no longer in the index, then least recently used ones down to
        ``max_bytes``; see :meth:`h2mt.query.prefill.kv_stores.KVStores.prune`."""
        return self._kv.prune(self._kv_prompts(config), max_bytes)

    def _forget_kv(self, doc_keys: Sequence[str]) -> int:
        """Delete the leaf KV store's entries of these documents (replaced or removed); returns how many."""
        if self._kv_stores is None and self.kv_root() is None:
            return 0
        return self._kv.forget(doc_keys, self.kv_root())

    # ---- HMT node memories ---------------------------------------------
    @property
    def hmt(self) -> Any:
        """The HMT over the generator (loaded on first use; its weights must fit the generator)."""
        with self._lock:
            if self._hmt is None:
                from .hmt.attach import load_for_backend

                self._hmt = load_for_backend(self.backend, self._hmt_weights())
            return self._hmt

    def _hmt_weights(self) -> Path:
        """The HMT folder: configured, else the index's, else the one shipped for the generator."""
        from .hmt.attach import weights_path

        return weights_path(self.config.memory, self.index.meta, getattr(self.backend, "model", None))

    def add_memories(self, index: Index | None = None, *, progress: bool = False) -> None:
        """Give every node of ``index`` (default: the engine's) an HMT memory and key from the generator."""
        from .index.memories import fill_memories

        target = self.index if index is None else index
        mcfg = self.config.memory
        if index is not None and self.index.has_memories:  # an update follows the index's own rule
            made = self.index.meta.get("hmt", {})
            mcfg = replace(mcfg, aggregate=made.get("aggregate", mcfg.aggregate), dtype=made.get("dtype", mcfg.dtype))
        fill_memories(target, self.hmt, self.backend.tokenizer, mcfg, self._hmt_weights(), progress)
        self._reader = None

    def memory_reader(self, what: str = "memory prefill") -> MemoryReader:
        """The index's memories on the loaded HMT (clear errors when the index has none or they
        were made by another generator or HMT)."""
        from .index.memories import require_memories

        require_memories(self.index, what)
        with self._lock:
            if self._reader is None:
                from .query.prefill.memory import MemoryReader

                lock = getattr(self.backend, "model_lock", None)
                self._reader = MemoryReader(self.index, self.hmt, self.backend.tokenizer, lock, what)
            return self._reader

    # ---- lazy components ---------------------------------------------
    def _check_encoder(self, enc: Encoder) -> None:
        built = self.index.meta.get("encoder", {}).get("name")
        if built and built != enc.name:
            raise ConfigError(
                f"The index was built with encoder {built!r} but {enc.name!r} was given; "
                "use the same encoder or rebuild the index"
            )

    @property
    def encoder(self) -> Encoder:
        """The encoder the index was built with (loaded on first use from the index's record)."""
        with self._lock:
            if self._encoder is None:
                m = self.index.meta.get("encoder", {})
                backend = self.backend if m.get("kind") == "lm-hidden" else None
                self._encoder = load_encoder(m, backend)
                self._check_encoder(self._encoder)
            return self._encoder

    @property
    def _encoder_recorded(self) -> str:
        """The name the index recorded for its encoder (the encoder's own name when it recorded none):
        what shipped per-encoder weights are looked up by."""
        return self.index.meta.get("encoder", {}).get("name") or self.encoder.name

    @property
    def sentence_ranker(self) -> SentenceRanker | None:
        """The learned re-ranking of the kept sentences shipped for the index's encoder
        (:func:`h2mt.query.sentence_ranker.load_sentence_ranker`; loaded once), or ``None``."""
        with self._lock:
            if self._sentence_ranker is False:
                from .query.sentence_ranker import load_sentence_ranker

                self._sentence_ranker = load_sentence_ranker(self._encoder_recorded)
            return self._sentence_ranker

    @property
    def cross_ranker(self) -> CrossRanker | None:
        """The cross-encoder re-ranking of the kept sentences shipped for the index's encoder
        (:func:`h2mt.query.cross_ranker.load_cross_ranker`; loaded once), or ``None``."""
        with self._lock:
            if self._cross_ranker is False:
                from .query.cross_ranker import load_cross_ranker

                self._cross_ranker = load_cross_ranker(self._encoder_recorded)
            return self._cross_ranker

    @property
    def backend(self) -> Backend:
        """The local generator (loaded on first use; engines and integration components of one
        process with the same :class:`BackendConfig` share one loaded model,
        :func:`h2mt.backends.shared.shared_backend`)."""
        with self._lock:
            if self._backend is None:
                from .backends.shared import shared_backend

                self._backend = shared_backend(self.config.backend)
            return self._backend

    # ---- query: route -> prompt -> generate ---------------------------------------------
    def route_config(
        self, config: RouteConfig | None = None, *, budget: int | None = None, beam_width: int | None = None
    ) -> RouteConfig:
        """``config`` (default: this engine's) with ``budget``/``beam_width`` overrides applied."""
        cfg = config or self.config.route
        if budget is not None or beam_width is not None:
            cfg = replace(cfg, budget=cfg.budget if budget is None else budget,
                          beam_width=cfg.beam_width if beam_width is None else beam_width)
        return cfg

    def route(
        self,
        question: str,
        config: RouteConfig | None = None,
        *,
        budget: int | None = None,
        beam_width: int | None = None,
    ) -> RouteResult:
        """Step 1: coarse-to-fine routing under ``config`` (default: the engine's) with
        overrides; nothing is generated and the engine's config is never changed."""
        cfg = self.route_config(config, budget=budget, beam_width=beam_width)
        memory = self.memory_reader("memory routing (memory_weight > 0)") if cfg.memory_weight > 0 else None
        return route(self.index, question, cfg, self.encoder, memory)

    def full_context(self) -> list[ScoredNode]:
        """Every leaf in document order (the unpruned baseline)."""
        return [ScoredNode(n, 0.0) for n in self.index.nodes if n.kind == NodeKind.LEAF]

    def prompt(self, question: str, kept: Sequence[ScoredNode], config: PrefillConfig | None = None) -> Prompt:
        """Step 2: the prompt for ``question`` over ``kept`` leaves, templated for the generator,
        made by the prefill strategy of ``config.mode`` (:mod:`h2mt.query.prefill`)."""
        cfg = config or self.config.prefill
        backend = self.backend
        tools = PromptTools(
            backend.chat_ids, self.memory_reader,
            split=getattr(backend, "chat_split_ids", None), encode=getattr(backend, "encode", None),
            kv_store=self.kv_store if cfg.mode == PrefillMode.KV else None, doc_key=self._doc_key,
        )
        return prefill_strategy(cfg.mode).prompt(question, kept, cfg, tools)

    def _doc_key(self, node: Node) -> str:
        return str(self.index.documents[node.doc].get("key", "")) if node.doc < len(self.index.documents) else ""

    def generate(self, prompt: Prompt, config: PrefillConfig | None = None) -> Generation:
        """Step 3: prefill ``prompt`` once and stream the reply (iterate the result)."""
        return generate(self.backend, prompt, config or self.config.prefill)

    def accounting(self, prompt: Prompt, route: RouteResult | None, generation: Generation,
                   started: float) -> Accounting:
        """The cost of one answered question (``started``: the request's ``perf_counter``)."""
        return Accounting.from_run(
            tokens_total=self.index.tokens_total, nodes_total=len(self.index.nodes),
            tokens_kept=prompt.tokens_kept, route=route, stats=generation.stats, started=started,
            generation_started=generation.started, ended=generation.ended or time.perf_counter(),
        )

    def stream(
        self, question: str, *, budget: int | None = None, beam_width: int | None = None, full: bool = False
    ) -> AnswerStream:
        """Route, prefill the pruned prompt once, and stream the answer (``full`` skips routing).

        TTFT is measured from here, after the encoder and generator are loaded (first use
        loads them; that one-off cost is not part of a request's latency). The pieces are the
        generator's; the final :attr:`AnswerStream.answer` text is cleaned by
        :func:`h2mt.query.answer.clean_answer` (no leaked instruction; an echo of the question
        or an empty short answer becomes "Not found in the indexed documents."). Under ``task="auto"``
        a generated answer that finds nothing (after its retry) is replaced by the kept sentences ranked
        best in their places when the best holds enough of the question (:meth:`_found_nothing`;
        ``answer_kind`` "quoted"); the pieces already streamed were the generator's.

        With ``PrefillConfig.sentence_pool`` p > 1 (``task="auto"``, not ``full``) the route gathers p times the
        budget and the budget goes to the leaves of its best-ranked sentences first (:meth:`_sentence_first`);
        the answer then reads those leaves as it reads a route's, and the accounting's budget stays the one asked.

        ``task="auto"`` (the default) picks the task per question (:func:`h2mt.query.task.choose_task`);
        a short answer it picked is checked before it is shown (:func:`h2mt.query.answer.retry_reason`)
        and, when it is no answer or not in the kept text (for a lookup: in the passage matching the
        question best), asked once more as a brief explanation; with ``PrefillConfig.quote_retries`` (off
        by default) it is replaced instead by the kept sentences ranked best in their places when the
        question asks for neither a symbol nor an entry's name and the best holds enough of it
        (:meth:`_retry_quote`; nothing more is generated). A short or brief answer the generator
        writes reads the ``focus_sentences`` kept sentences ranked best in their places, each with its
        neighbours (:func:`h2mt.query.evidence.focus_sentences`); with ``focus_sentences=0`` a short
        answer reads the whole kept text and a brief one the kept leaves matching the question best
        (:func:`h2mt.query.answer.focus_sources`). A question asking for
        an operator or symbol is answered by a symbol of the kept sentence matching it best
        (constrained decoding, :mod:`h2mt.query.symbols`); a yes/no or "what happens" question, by
        quoting the kept sentence that states it when one matches well (:mod:`h2mt.query.evidence`).
        A bare number answered short takes the unit the kept text gives it ("60" -> "60 seconds",
        :func:`h2mt.query.answer.with_unit`); a generated answer to a yes/no question that restates
        it says the verdict it states first (:func:`h2mt.query.answer.with_verdict`); with
        ``PrefillConfig.verdict_first`` (off by default) a yes/no question's generated brief answer starts
        with the generator's own choice between "Yes" and "No", its first token constrained to the two
        (local generators).
        The accounting records the task and why (``task``, ``task_reason``), how the shown answer was made
        (``answer_kind``: generated, quoted or constrained) and sums the tokens and
        prefill time of both generations (a quote adds none; the peak memory is the larger); TTFT is then
        the second one's first token (a quote's: when it is made, after the first answer), and a checked
        answer shown without a retry counts the check in its TTFT (nothing is shown before it)."""
        _ = self.backend if full else (self.encoder, self.backend)
        started = time.perf_counter()
        base = self.config.prefill
        auto = base.task == AnswerTask.AUTO
        wide = not full and auto and base.sentence_pool > 1.0  # sentence-first selection
        limit = self.route_config(budget=budget).budget
        r = None if full else self.route(question, budget=int(limit * base.sentence_pool) if wide else budget,
                                         beam_width=beam_width)
        choice = choose_task(question, base.task)
        cfgs = [replace(base, task=choice.task)]
        kept = self.full_context() if r is None else r.kept
        signals = _Signals(self, question, kept, auto, base.rerank_leaves, base.placed_sentences, base.sentence_ranker,
                           base.cross_ranker, base.cross_ranker_scope)
        if wide and r is not None:
            r = self._sentence_first(question, r, limit, signals)
            kept = r.kept
            signals.keep(kept)
        p, first, note, kind = self._first(question, choice, kept, cfgs[0], auto, signals)
        prompts = [p]
        why: list[str] = [note] if note else []
        kinds = [kind]  # how each generation was made: "generated", "quoted" or "constrained"
        constrained = kind == "constrained"

        extra: list[GenerationStats] = []  # generations made and not shown (an echo's short retry)

        def check(text: str) -> str | None:  # why a short answer is not to be shown (None: it may be)
            return retry_reason(text, question, p.context, cfgs[0], p.sources, check_entry=not constrained,
                                similarity=signals.similarity(p.sources), likelihood=signals.likelihood(p.sources))

        def retry(g: Generation) -> Generation | None:
            reason = check(g.text)
            if reason is None:
                return None
            said = g.text.strip()[:40]
            again = self._echo_retry(question, g, p, cfgs[0], reason) if base.echo_short_retry else None
            if again is not None and check(again.text) is None:
                why.append(f"short answer {said!r} was an echo of the question: answered again, not starting with it")
                cfgs.append(cfgs[0])
                prompts.append(p)
                kinds.append("generated")
                return again
            if again is not None:  # it failed its check too: the brief retry below; its cost still counts
                extra.append(again.stats)
            cfgs.append(replace(base, task=AnswerTask.BRIEF))
            quote = self._retry_quote(question, kept, signals) if base.quote_retries else None
            if quote is not None:  # the kept text's own sentences, not a second generation
                why.append(f"short answer {said!r} replaced by the {len(quote[0])} sentences ranked best "
                           f"in their places ({quote[0][0].coverage:.2f}): {reason}")
                prompt, generation = _quoted(question, quote, cfgs[-1])
                prompts.append(prompt)
                kinds.append("quoted")
                return generation
            why.append(f"short answer {said!r} retried as brief: {reason}")
            prompts.append(self.prompt(question, self._read(question, kept, cfgs[-1], signals), cfgs[-1]))
            kinds.append("generated")
            return self.generate(prompts[-1], cfgs[-1])

        def finish(gens: list[Generation]) -> Answer:
            kind = kinds[len(gens) - 1]
            quoted = kind == "quoted"
            text = gens[-1].text if quoted else clean_answer(gens[-1].text, question, cfgs[-1])  # no leak, no echo
            sources, context = p.sources, p.context
            found = self._found_nothing(question, kept, signals) if auto and not quoted and text == NOT_FOUND else None
            if found is not None:  # the generator found nothing; the kept text's best sentences hold the question
                why.append(f"the generated answer found nothing: quoted the {len(found[0])} sentences ranked best in "
                           f"their places ({found[0][0].coverage:.2f})")
                shown = build_prompt(question, found[1], cfgs[-1])  # what the quote stands on
                text, sources, context = quote_text(found[0], cfgs[-1].quote_places), shown.sources, shown.context
                kind, quoted = "quoted", True
            elif auto and cfgs[-1].task == AnswerTask.SHORT:
                text = with_unit(text, prompts[-1].context, question)  # "60" -> "60 seconds", as the context says
            if auto and not quoted and not constrained:
                text = with_verdict(text, question)  # "glob does not pick up dotfiles" -> "No, glob does not..."
            acc = self.accounting(prompts[-1], r, gens[-1], started)
            if len(gens) > 1:
                acc.add_generation(gens[0].stats)
            for stats in extra:
                acc.add_generation(stats)
            acc.task, acc.task_reason = cfgs[-1].task.value, "; ".join([choice.reason, *why])
            acc.answer_kind = kind
            acc.leaves_reranked, acc.rerank_ms = signals.leaves_reranked, signals.rerank_ms
            acc.sentence_rerank_ms = signals.cross_ms
            if checked and len(gens) == 1:  # shown only once checked: its first token waited for the check
                shown_ms = (time.perf_counter() - started) * 1000.0
                acc.ttft_ms, acc.total_ms = max(acc.ttft_ms, shown_ms), max(acc.total_ms, shown_ms)
            return Answer(question, text, sources, acc, context)

        checked = auto and choice.task == AnswerTask.SHORT and kind != "quoted"
        return AnswerStream(first, finish, retry if checked else None)

    def _sentence_first(self, question: str, wide: RouteResult, budget: int, signals: _Signals) -> RouteResult:
        """``wide`` (a route over ``PrefillConfig.sentence_pool`` times ``budget``) cut to ``budget``: its
        sentences ranked in their places (:meth:`_Signals.placed`, the cross-encoder's order when it is on), the
        leaves of the best-ranked sentences first, then the rest in the route's order
        (:func:`h2mt.query.select.by_sentences`); the ranking's time is added to the route's."""
        t0 = time.perf_counter()
        ranked = rank_sentences(question, [s.node.text for s in wide.kept], **signals.placed(wide.kept, always=True))
        kept = by_sentences(wide.kept, [s.leaf for s in ranked], budget)
        ms = (time.perf_counter() - t0) * 1000.0
        return replace(wide, kept=kept, budget=budget, tokens_kept=sum(s.node.tokens for s in kept),
                       route_ms=wide.route_ms + ms)

    def _echo_retry(self, question: str, g: Generation, p: Prompt, cfg: PrefillConfig, reason: str,
                    ) -> Generation | None:
        """A name question's short answer that only echoed the question (``"which shopt setting..."`` ->
        ``shopt``), asked once more as a short answer whose first token is not the echoed word's
        (``PrefillConfig.not_first_words``; local generators), or ``None`` when that does not apply."""
        echoed = next(iter(g.text.strip().strip("`'\"").split()), "").strip("`'\".,")  # its first word
        if (reason != ECHO_REASON or not echoed or not asks_for_name(question) or p.soft is not None
                or getattr(self.backend, "takes_messages", False)):
            return None
        again = self.generate(p, replace(cfg, not_first_words=(echoed, f"`{echoed}")))
        again.run()  # checked before it is shown: streamed again from its text
        replay = Generation(iter([again.text]), again.stats, again.started)
        replay.text = again.text  # what its check reads; streaming it sets the same text
        return replay

    def _found_nothing(self, question: str, kept: list[ScoredNode], signals: _Signals,
                       ) -> tuple[list[Sentence], list[ScoredNode]] | None:
        """What replaces a generated answer that found nothing ("Not found in the indexed documents.",
        after its retry): the kept sentences ranked best in their places
        (:func:`h2mt.query.evidence.placed_quote`), or ``None`` (the answer stays "not found") when
        the best holds less than :data:`~h2mt.query.evidence.REPLACE_MIN_COVERAGE` of the question: the
        kept text is about something else."""
        return signals.quote(lambda q: placed_quote(question, kept, **signals.placed(kept, always=True, quote=q),
                                                    min_coverage=REPLACE_MIN_COVERAGE))

    def _retry_quote(self, question: str, kept: list[ScoredNode], signals: _Signals,
                     ) -> tuple[list[Sentence], list[ScoredNode]] | None:
        """What replaces a short answer that failed its check (``PrefillConfig.quote_retries``): the
        kept sentences ranked best in their places (:func:`h2mt.query.evidence.placed_quote`), or
        ``None`` when the best holds too little of the question, or the question asks for a symbol
        or an entry's name (a sentence holds many; those answers stay the generator's)."""
        if asks_for_symbol(question) or asks_for_name(question):
            return None
        return self._found_nothing(question, kept, signals)  # the same quote, under the same floor

    def _first(self, question: str, choice: TaskChoice, kept: list[ScoredNode], cfg: PrefillConfig,
               auto: bool, signals: _Signals,
               ) -> tuple[Prompt, Generation, str | None, Literal["generated", "quoted", "constrained"]]:
        """The first prompt and generation of :meth:`stream`, what was done differently (a note
        for the accounting, or ``None``) and how the answer was made: generated, quoted from the
        documents (shown as is) or chosen among symbols of the kept text (``constrained``). Under
        ``task="auto"``: a yes/no, "what happens", "what does X do", "how..." or "what is the purpose
        of..." question (:data:`~h2mt.query.evidence.PLACED_QUOTE_REASONS`) is answered by
        quoting the three kept sentences ranked best in their places when the best one shares a word
        with the question (:func:`h2mt.query.evidence.placed_quote`, ``placed_sentences``; nothing
        generated), else a yes/no or "what happens" question whose answer a kept sentence states
        is answered by quoting it (:func:`h2mt.query.evidence.evidence_quote`);
        questions about entries of reference docs are answered from the entry
        (:meth:`_entry_first`), after a parameter's default that a kept signature writes
        (:func:`h2mt.query.entries.signature_default`); a name or value question asking what holds when
        something is left out (:func:`h2mt.query.entries.asks_what_is_assumed`) and whose named entry states no
        default is answered by quoting the kept sentences ranked best that state one, those of the entry it
        names first (:meth:`_quoted_default`, ``quote_defaults``); a default that no named entry states is
        quoted from the kept sentence matching best that states one (:func:`h2mt.query.entries.sentence_default`); a
        question that no task rule recognises, written in the first person, is answered where the generator would
        write by quoting the kept sentences ranked best in their places (:meth:`_unmatched_quote`,
        ``quote_unmatched``); a question asking for an operator or symbol gets a symbol of the sentence matching it
        best, chosen by the generator (:mod:`h2mt.query.symbols`); a generated answer reads the best kept
        sentences with their neighbours (``focus_sentences``; with 0, a brief answer reads the
        best-matching leaves, :func:`h2mt.query.answer.focus_sources`), and with ``verdict_first`` one to a yes/no
        question starts with "Yes" or "No" (``first_words``), unless a server generates."""
        def placed_quoted(quote: bool) -> tuple[list[Sentence], list[ScoredNode]] | None:
            places = signals.placed(kept, quote=quote)
            return placed_quote(question, kept, **places) if places else None  # PLACED_QUOTE_MIN_COVERAGE

        quoted = signals.quote(placed_quoted) if auto and choice.reason in PLACED_QUOTE_REASONS else None
        if quoted is not None:  # the kept text's own sentences, ranked in their places
            return _placed_answer(question, quoted, cfg, signals.by_ranker)
        quote = evidence_quote(question, kept) if auto and choice.reason in QUOTE_REASONS else None
        if quote is not None:
            p = build_prompt(question, [quote[1]], cfg)  # what the answer stands on; nothing is prefilled
            note = f"quoted the best-matching sentence ({quote[0].coverage:.2f})"
            return p, quote_generation(quote[0].text), note, "quoted"
        short = auto and choice.task == AnswerTask.SHORT
        wants_symbol, wants_name = asks_for_symbol(question), asks_for_name(question)
        asks = short and asks_for_default(question) and not wants_symbol
        written = signature_default(question, kept) if asks else None  # "maxlevels=0"
        if written is not None:
            p = build_prompt(question, [kept[written[1]]], cfg)  # what the quote stands on
            return p, quote_generation(written[0]), "the default its signature writes", "quoted"
        assumed = (short and cfg.quote_defaults and asks_what_is_assumed(question) and not wants_symbol
                   and not wants_name)  # "If I omit the port, which port...?"
        unmatched = (auto and cfg.quote_unmatched and choice.reason == UNMATCHED_REASON and in_first_person(question)
                     and not wants_name and not wants_symbol)
        entry = (self._entry_first(question, choice, kept, cfg, signals, quote_defaults=assumed, unmatched=unmatched)
                 if auto else None)
        if entry is not None:
            return entry
        stated = self._quoted_default(question, kept, cfg, signals) if assumed else None
        if stated is not None:  # "If port is omitted, the standard IMAP4-over-SSL port (993) is used."
            return stated
        found = (signals.quote(lambda q: sentence_default(question, kept, signals.learned(kept, quote=q)))
                 if asks else None)
        if found is not None:  # "cutoff (default 0.6)": the documents' own value
            p = build_prompt(question, [kept[found[1]]], cfg)  # what the quote stands on
            note = f"the default stated in the sentence matching best{signals.by_ranker}"
            return p, quote_generation(found[0]), note, "quoted"
        non_name = (auto and cfg.quote_non_names and not wants_name and not wants_symbol
                    and about_own_work(question))  # holds for every unmatched one too: one quote serves both
        instead = (self._unmatched_quote(question, kept, cfg, signals, UNMATCHED_WHY if unmatched else NON_NAME_WHY)
                   if unmatched or non_name else None)
        if instead is not None:  # the kept text's own sentences, where the generator would write
            return instead
        brief = auto and choice.task == AnswerTask.BRIEF
        p = self.prompt(question, self._read(question, kept, cfg, signals) if auto else kept, cfg)
        symbols = (self._candidate_symbols(question, p.sources)
                   if short and p.soft is None and wants_symbol else [])
        server = getattr(self.backend, "takes_messages", False)  # it returns text, not logits to constrain
        if len(symbols) > 1 and server:
            symbols = []  # a server returns text, not the logits a choice between symbols needs
        if symbols:
            note = f"a symbol of the sentence matching best, constrained ({len(symbols)} candidates)"
            return p, symbol_generation(self.backend, p, symbols), note, "constrained"
        names = (name_candidates(question, p.sources)
                 if short and cfg.constrain_names and p.soft is None and not server and wants_name and not wants_symbol
                 else [])
        if names:
            note = f"a name of the kept text, constrained ({len(names)} candidates)"
            return p, symbol_generation(self.backend, p, names), note, "constrained"
        if brief and choice.reason == "yes-no" and cfg.verdict_first and not server:
            verdict = replace(cfg, first_words=VERDICT_WORDS)  # the generator's own Yes or No, then its reason
            return p, self.generate(p, verdict), "the verdict chosen between Yes and No first", "generated"
        return p, self.generate(p, cfg), None, "generated"

    def _candidate_symbols(self, question: str, sources: Sequence[ScoredNode]) -> list[str]:
        """The symbols a symbol question's answer is chosen among, from the leaves its prompt reads
        (:func:`h2mt.query.symbols.evidence_symbols` over each leaf whole, its heading and the leaf
        before it)."""
        return evidence_symbols(question, [self._whole(s.node) for s in sources],
                                [s.node.path[-1] if s.node.path else s.node.title for s in sources],
                                [self._leaf_before(s.node) for s in sources])

    def _read(self, question: str, kept: list[ScoredNode], cfg: PrefillConfig, signals: _Signals) -> list[ScoredNode]:
        """What an answer the generator writes under ``task="auto"`` reads of the kept leaves: the
        ``cfg.focus_sentences`` sentences ranked best in their places, each with its neighbours
        (:func:`h2mt.query.evidence.focus_sentences`; text prefill only: kv prefill reuses whole
        leaves' caches), else for a brief answer the leaves matching the question best
        (:func:`h2mt.query.answer.focus_sources`), else all of them."""
        if cfg.focus_sentences and cfg.mode == PrefillMode.TEXT:
            return focus_sentences(question, kept, cfg.focus_sentences, **signals.placed(kept, always=True))
        if cfg.task == AnswerTask.BRIEF:
            return focus_sources(question, kept, similarity=signals.similarity(kept),
                                 likelihood=signals.likelihood(kept))
        return kept

    def _quoted_default(self, question: str, kept: list[ScoredNode], cfg: PrefillConfig, signals: _Signals,
                        named: tuple[Entry | None, list[ScoredNode]] | None = None,
                        ) -> tuple[Prompt, Generation, str, Literal["generated", "quoted", "constrained"]] | None:
        """The answer quoting the kept sentences that state a default
        (:func:`h2mt.query.entries.default_quote`): those of the kept entry ``question`` names first
        ("...construct modulefinder.ModuleFinder() without a path argument": ModuleFinder's entry,
        read whole), else all the kept sentences; ``None`` when none states one. ``named``: that
        entry and the kept leaves with their entries made whole, when :meth:`_entry_first` has
        found them already."""
        if named is None:
            whole = whole_entries(kept, *self._neighbours(kept))
            named = named_entry(question, whole, [self._leaf_before(s.node) for s in kept]), whole
        entry, whole = named

        def stated(quote: bool) -> tuple[list[Sentence], list[ScoredNode]] | None:
            found = None
            if entry is not None:
                scope = [entry_source(entry, whole)]
                found = default_quote(question, scope, **signals.placed(scope, always=True, quote=quote))
            return found or default_quote(question, kept, **signals.placed(kept, always=True, quote=quote))

        found = signals.quote(stated)
        if found is None:
            return None
        note = (f"quoted the {len(found[0])} sentences ranked best{signals.by_ranker} that state a default "
                f"({found[0][0].coverage:.2f})")
        return *_quoted(question, found, cfg), note, "quoted"

    def _entry_first(self, question: str, choice: TaskChoice, kept: list[ScoredNode], cfg: PrefillConfig,
                     signals: _Signals, quote_defaults: bool = False, unmatched: bool = False,
                     ) -> tuple[Prompt, Generation, str, Literal["generated", "quoted", "constrained"]] | None:
        """:meth:`_first` for questions about entries of reference docs (:mod:`h2mt.query.entries`),
        or ``None`` when the kept text has no entry to answer from:

        * "which option / parameter / function ... <description>?": the name of the entry whose
          sentence matches best (when it holds enough of the question's words or sits in the kept
          leaf matching the question best, :func:`h2mt.query.answer.rank_passages`), as is; up to
          two close ones are read with it as its sources;
        * "what does X do?" / "what is X (used) for?" / "what is X?": the opening sentences of X's
          entry, quoted, and its sentence on a detail the question asks beyond X
          (:func:`h2mt.query.entries.detail_sentence`);
        * a value of X ("the default value of X"): the default X's entry states, quoted, else
          generated from X's entry alone (with ``quote_defaults``, first the kept sentences that
          state a default, :meth:`_quoted_default`; with ``unmatched``, a question no task rule
          recognises, the kept sentences ranked best instead, :meth:`_unmatched_quote`)."""
        short = choice.task == AnswerTask.SHORT
        if short and asks_for_symbol(question):
            return None
        describes = short and asks_for_name(question)
        if not describes and choice.reason not in ("what-does", "definition", "used-for") and not (
                short and is_lookup(question)):
            return None
        before = [self._leaf_before(s.node) for s in kept]
        lead = lead_passage(question, kept, signals.similarity(kept), signals.likelihood(kept)) if describes else None
        given, kept = kept, whole_entries(kept, *self._neighbours(kept))  # entries cut by a leaf boundary, whole
        if describes:
            found = described_entries(question, kept, before, lead)
            if not found:
                return None
            # the close entries are what the answer stands on; the best one's name is the answer, as is (the
            # generator choosing among them picked worse: docs/benchmarks.md, stop 48)
            p = self.prompt(question, [entry_source(e, kept) for e in sorted(found, key=lambda e: (e.leaf, e.first))],
                            cfg)
            note = "the entry whose text matches best" + (f" ({len(found)} close)" if len(found) > 1 else "")
            return p, quote_generation(found[0].keys[0]), note, "quoted"
        entry = named_entry(question, kept, before)
        if entry is None:
            return None
        if not short:
            option = option_sentence(entry, kept, question)
            text = option or opening(entry, kept)
            if not text:
                return None
            detail = detail_sentence(entry, kept, question, text)  # "...with huge_pages = try": the sentence on it
            text = f"{text} {detail}" if detail else text
            p = build_prompt(question, [entry_source(entry, kept)], cfg)  # what the quote stands on
            what = "the sentence on its option" if option else "the opening"
            what += " and on the detail asked" if detail else ""
            return p, quote_generation(text), f"quoted {what} of {entry.keys[0]}'s entry", "quoted"
        read = [entry_source(entry, kept)]
        value = stated_default(entry, kept, question) if asks_for_default(question) else ""
        if value:  # "The default is 64MB.": the documents' own value
            note = f"the default stated in {entry.keys[0]}'s entry"
            return self.prompt(question, read, cfg), quote_generation(value), note, "quoted"
        quoted = self._quoted_default(question, given, cfg, signals, (entry, kept)) if quote_defaults else None
        if quoted is not None:  # the entry states no default in so many words; its sentences (or others) do
            return quoted
        quoted = self._unmatched_quote(question, given, cfg, signals) if unmatched else None
        if quoted is not None:  # the kept text's own sentences, where the generator would read the entry
            return quoted
        p = self.prompt(question, read, cfg)
        return p, self.generate(p, cfg), f"read {entry.keys[0]}'s entry", "generated"

    def _unmatched_quote(self, question: str, kept: list[ScoredNode], cfg: PrefillConfig, signals: _Signals,
                         why: str = UNMATCHED_WHY,
                         ) -> tuple[Prompt, Generation, str, Literal["generated", "quoted", "constrained"]] | None:
        """The answer to a question no task rule recognises, written in the first person
        (``PrefillConfig.quote_unmatched``), or to any question the generator would answer that is about
        the user's own work or code and asks for neither an entry's name nor a symbol
        (``PrefillConfig.quote_non_names``): the kept sentences ranked best in their places, quoted
        (:func:`h2mt.query.evidence.placed_quote`), or ``None`` when none shares a word with it; ``why``
        ends the accounting's note. Over the 90 unmatched questions of sets 59-85 whose answer was
        generated, the quotes were right for 53 (48 judged strictly, sentence by sentence) against 35:
        docs/benchmarks.md, stop 52; over the 107 questions of sets 86-109 that ``quote_non_names``
        takes, 28 gained and 14 lost, and on blind sets 110-112 4 and 4: stop 56."""
        found = signals.quote(lambda q: placed_quote(question, kept, **signals.placed(kept, always=True, quote=q)))
        if found is None:
            return None
        return _placed_answer(question, found, cfg, signals.by_ranker, why)

    def _similarity(self, question: str, sources: Sequence[ScoredNode]) -> dict[int, float]:
        """Node id -> the cosine of that kept leaf's embedding (the index's own) and the question's,
        for :func:`h2mt.query.answer.rank_passages`; only leaves of this index (an excerpt keeps
        its leaf's id), and none when there are fewer than two."""
        nodes = self.index.nodes
        ids = [s.node.id for s in sources if 0 <= s.node.id < len(nodes) and nodes[s.node.id].path == s.node.path]
        if len(ids) < 2:
            return {}
        q = self.encoder.encode([question])[0]  # (D,) unit
        cos = self.index.embeddings[ids] @ q  # (K,)
        return {i: float(c) for i, c in zip(ids, cos, strict=True)}

    def _whole(self, node: Node) -> str:
        """The whole text of the leaf ``node`` is (an excerpt of): the index's own node when
        ``node`` is one of the index's leaves, else ``node``'s text."""
        nodes = self.index.nodes
        same = 0 <= node.id < len(nodes) and nodes[node.id].path == node.path and nodes[node.id].kind == node.kind
        return nodes[node.id].text if same else node.text

    def _own(self, node: Node) -> bool:
        """Whether ``node`` is a whole leaf of this index (not an excerpt, not a node of another index)."""
        nodes = self.index.nodes
        return 0 <= node.id < len(nodes) and nodes[node.id].path == node.path and nodes[node.id].text == node.text

    def _leaf_before(self, node: Node) -> str | None:
        """The text of the leaf right before ``node`` in its section (``None``: none)."""
        near = self.index.next_leaf(node.id, -1) if 0 <= node.id < len(self.index.nodes) else None
        return (near.text or None) if near is not None else None

    def _neighbours(self, kept: Sequence[ScoredNode]) -> tuple[list[str | None], list[str | None]]:
        """For each kept leaf that is its index leaf whole, the text of the leaf right before and
        right after it in its section (``None``: none, or the kept leaf is an excerpt), for
        :func:`h2mt.query.entries.whole_entries`."""
        near = [[self.index.next_leaf(s.node.id, d) if self._own(s.node) else None for d in (-1, 1)] for s in kept]
        return ([(b.text or None) if b else None for b, _ in near], [(a.text or None) if a else None for _, a in near])

    async def aroute(self, question: str, *, budget: int | None = None, beam_width: int | None = None) -> RouteResult:
        """:meth:`route` without blocking the event loop."""
        return await run_blocking(lambda: self.route(question, budget=budget, beam_width=beam_width))

    async def aanswer(
        self, question: str, *, budget: int | None = None, beam_width: int | None = None, full: bool = False
    ) -> Answer:
        """:meth:`answer` without blocking the event loop."""
        return await run_blocking(lambda: self.answer(question, budget=budget, beam_width=beam_width, full=full))

    async def astream(
        self, question: str, *, budget: int | None = None, beam_width: int | None = None, full: bool = False
    ) -> AsyncIterator[str | Answer]:
        """Async token stream; the last item yielded is the complete :class:`Answer`."""

        def produce() -> Iterator[str | Answer]:
            s = self.stream(question, budget=budget, beam_width=beam_width, full=full)
            yield from s
            assert s.answer is not None
            yield s.answer

        async for item in aiter_blocking(produce):
            yield item

    def answer(
        self, question: str, *, budget: int | None = None, beam_width: int | None = None, full: bool = False
    ) -> Answer:
        """Route and generate the whole answer."""
        s = self.stream(question, budget=budget, beam_width=beam_width, full=full)
        for _ in s:
            pass
        assert s.answer is not None
        return s.answer
