"""The facade: ``H2MT.build()``, ``.route()``, ``.answer()``; composes stages, holds no algorithm."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from .aio import aiter_blocking, run_blocking
from .backends.base import Backend, GenerationStats
from .builder import build_index, index_leaves
from .chunking import TokenCounter
from .config import H2MTConfig
from .encoders import Encoder, load_encoder
from .errors import ConfigError, InputError
from .external import LeafInput, documents_from_leaves
from .incremental import combine
from .index import Index
from .routing import route
from .select import build_messages, format_context
from .store import load_index, save_index
from .types import Accounting, Answer, NodeKind, ParsedDocument, RouteResult, ScoredNode

__all__ = ["H2MT", "AnswerStream", "tokenizer_counter"]

log = logging.getLogger(__name__)


def tokenizer_counter(tokenizer: Any) -> TokenCounter:
    """A :data:`TokenCounter` from a Hugging Face tokenizer (no special tokens)."""

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(x) for x in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    return count


class AnswerStream:
    """Iterate to receive answer text pieces; :attr:`answer` is complete once iteration ends."""

    def __init__(self, pieces: Iterator[str], finish: Any) -> None:
        self._pieces = pieces
        self._finish = finish
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        out: list[str] = []
        for p in self._pieces:
            out.append(p)
            yield p
        self.answer = self._finish("".join(out))


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
        self._lock = threading.RLock()
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
        token_counter: TokenCounter | None = None,
        progress: bool = False,
    ) -> H2MT:
        """Parse, chunk, build the hierarchy and its memory embeddings over ``sources``."""
        cfg = config or H2MTConfig()
        enc = encoder or load_encoder(cfg.encoder, backend)
        count, tok_name = cls._counter(cfg, backend, token_counter)
        index = build_index(sources, cfg, enc, count, progress=progress, tokenizer_name=tok_name)
        return cls(index, cfg, encoder=enc, backend=backend)

    @classmethod
    def from_leaves(
        cls,
        leaves: Sequence[LeafInput],
        config: H2MTConfig | None = None,
        *,
        encoder: Encoder | None = None,
        backend: Backend | None = None,
        token_counter: TokenCounter | None = None,
    ) -> H2MT:
        """Build over pre-chunked external leaves (one leaf each, ``ref`` kept), structured by their paths."""
        cfg = config or H2MTConfig()
        enc = encoder or load_encoder(cfg.encoder, backend)
        count, tok_name = cls._counter(cfg, backend, token_counter)
        docs, lv = documents_from_leaves(leaves, count)
        return cls(index_leaves(docs, lv, cfg, enc, tokenizer_name=tok_name), cfg, encoder=enc, backend=backend)

    @staticmethod
    def _counter(cfg: H2MTConfig, backend: Backend | None, given: TokenCounter | None) -> tuple[TokenCounter, str]:
        if given is not None:
            return given, getattr(given, "name", type(given).__name__)
        if backend is not None:
            return backend.count_tokens, backend.name
        from .backends import load_tokenizer

        tok = load_tokenizer(cfg.backend)
        return tokenizer_counter(tok), str(getattr(tok, "name_or_path", "tokenizer"))

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
        return cls(load_index(path), config, encoder=encoder, backend=backend)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically to ``path``."""
        save_index(self.index, path)

    # ---- incremental updates -----------------------------------------
    def add(
        self,
        sources: Iterable[str | os.PathLike[str] | ParsedDocument],
        *,
        token_counter: TokenCounter | None = None,
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
        fresh = {d["source"] for d in new.documents}
        keep = [i for i, d in enumerate(self.index.documents) if d["source"] not in fresh]
        parts = [(self.index, keep), (new, range(len(new.documents)))]
        self.index = combine(parts, self.encoder, self.config.hierarchy)
        return len(new.documents)

    def remove(self, sources: Iterable[str | os.PathLike[str]]) -> int:
        """Remove the documents whose ``source`` is listed; returns how many were removed."""
        gone = {os.fspath(s) for s in sources}
        keep = [i for i, d in enumerate(self.index.documents) if d["source"] not in gone]
        removed = len(self.index.documents) - len(keep)
        if removed == 0:
            known = ", ".join(d["source"] for d in self.index.documents[:5])
            raise InputError(f"None of {sorted(gone)} is in the index (documents: {known}...)")
        self.index = combine([(self.index, keep)], self.encoder, self.config.hierarchy)
        return removed

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
        """The encoder the index was built with (loaded on first use)."""
        with self._lock:
            if self._encoder is None:
                m = self.index.meta.get("encoder", {})
                if m.get("kind") not in ("sentence-transformers", "hashing", "lm-hidden"):
                    raise ConfigError(
                        f"The index was built with a custom encoder ({m.get('name')!r}); pass it as encoder="
                    )
                ecfg = replace(self.config.encoder, kind=m["kind"], model=m.get("model"),
                               hashing_dim=m.get("hashing_dim", 256))
                self._encoder = load_encoder(ecfg, self.backend if m["kind"] == "lm-hidden" else None)
                self._check_encoder(self._encoder)
            return self._encoder

    @property
    def backend(self) -> Backend:
        """The local generator (loaded on first use)."""
        with self._lock:
            if self._backend is None:
                from .backends import load_backend

                self._backend = load_backend(self.config.backend)
            return self._backend

    # ---- query ---------------------------------------------------------
    def route(self, question: str, *, budget: int | None = None, beam_width: int | None = None) -> RouteResult:
        """Coarse-to-fine routing; nothing is generated."""
        cfg = self.config.route
        if budget is not None or beam_width is not None:
            cfg = replace(cfg, budget=cfg.budget if budget is None else budget,
                          beam_width=cfg.beam_width if beam_width is None else beam_width)
        return route(self.index, question, cfg, self.encoder)

    def full_context(self) -> list[ScoredNode]:
        """Every leaf in document order (the unpruned baseline)."""
        return [ScoredNode(n, 0.0) for n in self.index.nodes if n.kind == NodeKind.LEAF]

    def prompt_ids(self, question: str, kept: Sequence[ScoredNode]) -> tuple[list[int], str]:
        """Chat-template token ids for ``question`` over ``kept`` leaves, and the context text."""
        context = format_context([k.node for k in kept], self.config.prefill.breadcrumbs)
        return self.backend.chat_ids(build_messages(question, context, self.config.prefill)), context

    def stream(
        self, question: str, *, budget: int | None = None, beam_width: int | None = None, full: bool = False
    ) -> AnswerStream:
        """Route, prefill the pruned prompt once, and stream the answer (``full`` skips routing).

        TTFT is measured from here, after the encoder and generator are loaded (first use
        loads them; that one-off cost is not part of a request's latency)."""
        _ = self.backend if full else (self.encoder, self.backend)
        t0 = time.perf_counter()
        if full:
            kept, r = self.full_context(), None
        else:
            r = self.route(question, budget=budget, beam_width=beam_width)
            kept = r.kept
        ids, context = self.prompt_ids(question, kept)
        stats = GenerationStats()
        t_gen = time.perf_counter()
        pieces = self.backend.stream(ids, self.config.prefill, stats)

        def finish(text: str) -> Answer:
            pre_ms = (t_gen - t0) * 1000.0
            acc = Accounting(
                tokens_total=self.index.tokens_total,
                tokens_kept=sum(k.node.tokens for k in kept),
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                nodes_scored=r.nodes_scored if r else 0,
                nodes_total=len(self.index.nodes),
                route_ms=r.route_ms if r else 0.0,
                prefill_ms=stats.prefill_ms,
                ttft_ms=pre_ms + stats.first_token_ms,
                total_ms=(time.perf_counter() - t0) * 1000.0,
                peak_mem_bytes=stats.peak_mem_bytes,
            )
            return Answer(question, text.strip(), list(kept), acc, context)

        return AnswerStream(pieces, finish)

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
