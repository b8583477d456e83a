"""Answer generation over routed leaves, with accounting filled in as the token stream ends.

The prompt is h2mt's own: the engine's prompt step (:meth:`h2mt.H2MT.prompt`). With no LLM (or an
:class:`H2MTLLM`) it is prefilled once on the h2mt backend (:func:`h2mt.query.generate.generate`),
which reports prefill and first-token times; any other LlamaIndex LLM gets the same chat
messages, its time to first token is measured here and what it does not report stays ``None``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import replace
from typing import Any

from h2mt.aio import aiter_blocking
from h2mt.config import PrefillMode
from h2mt.engine import H2MT
from h2mt.errors import ConfigError
from h2mt.query.generate import generate
from h2mt.query.prompt import build_prompt
from h2mt.types import Accounting, GenerationStats, RouteResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM

from .llm import H2MTLLM

__all__ = ["AnswerRun"]


class AnswerRun:
    """One answer being generated; :attr:`metadata` holds the accounting (complete at the end)."""

    def __init__(self, engine: H2MT, question: str, route: RouteResult, llm: LLM | None, t0: float,
                 prefill_mode: str | None = None) -> None:
        self.engine, self.route, self.llm, self.t0 = engine, route, llm, t0  # t0: request start, for TTFT
        prefill = engine.config.prefill
        if isinstance(llm, H2MTLLM):
            prefill = replace(prefill, max_new_tokens=llm.max_new_tokens, temperature=llm.temperature, top_p=llm.top_p)
        if prefill_mode is not None:
            prefill = replace(prefill, mode=prefill_mode)
        self.prefill = prefill
        self.native = llm is None or isinstance(llm, H2MTLLM)
        self.backend = (llm.backend if isinstance(llm, H2MTLLM) else engine.backend) if self.native else None
        if prefill.mode != PrefillMode.TEXT:  # memory embeddings: h2mt's prompt on the engine's own generator
            if self.backend is None or self.backend is not engine.backend:
                raise ConfigError(
                    f"prefill={prefill.mode.value!r} needs the engine's own h2mt generator (no llm, or an H2MTLLM "
                    "sharing its backend); other LLMs read text: use prefill='text'."
                )
            self.prompt = engine.prompt(question, route.kept, prefill)
        elif self.native:  # the engine's prompt step, templated for the generator that answers
            answering = engine if llm is None else H2MT(engine.index, engine.config, backend=self.backend)
            self.prompt = answering.prompt(question, route.kept, prefill)
        else:  # a foreign LLM applies its own chat template: the same messages, no h2mt token ids
            self.prompt = build_prompt(question, route.kept, prefill)
        pending = GenerationStats(prompt_tokens=None, completion_tokens=None, prefill_ms=None)
        self.metadata: dict[str, Any] = {**self._accounting(pending, t0, t0).as_dict(), "ttft_ms": None,
                                         "total_ms": None, "budget": route.budget}

    def _accounting(self, stats: GenerationStats, started: float, ended: float) -> Accounting:
        r = self.route
        return Accounting.from_run(tokens_total=r.tokens_total, nodes_total=r.nodes_total,
                                   tokens_kept=self.prompt.tokens_kept, route=r, stats=stats, started=self.t0,
                                   generation_started=started, ended=ended)

    def _done(self, stats: GenerationStats, started: float, ended: float | None) -> None:
        self.metadata.update(self._accounting(stats, started, ended or time.perf_counter()).as_dict())

    def _native(self) -> Generator[str, None, None]:
        assert self.backend is not None
        gen = generate(self.backend, self.prompt, self.prefill)
        yield from gen
        self._done(gen.stats, gen.started, gen.ended)

    def _external_stats(self, started: float, first: float | None) -> GenerationStats:
        """What a foreign LLM's stream tells: only the arrival of its first piece."""
        return GenerationStats(prompt_tokens=None, completion_tokens=None, prefill_ms=None,
                               first_token_ms=((first or time.perf_counter()) - started) * 1000.0)

    def _chat_messages(self) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in self.prompt.messages]

    def pieces(self) -> Generator[str, None, None]:
        """The answer's text pieces, generated as they are consumed."""
        if self.native:
            yield from self._native()
            return
        assert self.llm is not None
        started, first = time.perf_counter(), None
        for resp in self.llm.stream_chat(self._chat_messages()):
            if resp.delta:
                first = first or time.perf_counter()
                yield resp.delta
        self._done(self._external_stats(started, first), started, None)

    async def apieces(self) -> AsyncGenerator[str, None]:
        """Async pieces: the h2mt backend runs in a worker thread; other LLMs stream natively."""
        if self.native:
            async for p in aiter_blocking(self._native):
                yield p
            return
        assert self.llm is not None
        started, first = time.perf_counter(), None
        async for resp in await self.llm.astream_chat(self._chat_messages()):
            if resp.delta:
                first = first or time.perf_counter()
                yield resp.delta
        self._done(self._external_stats(started, first), started, None)
