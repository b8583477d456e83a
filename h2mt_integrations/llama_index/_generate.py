"""Answer generation over routed leaves, with accounting filled in as the token stream ends.

With no LLM (or an :class:`H2MTLLM`) the prompt is prefilled once on the h2mt backend, which
reports prefill and first-token times; any other LlamaIndex LLM gets the same chat messages and
its time to first token is measured here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, replace
from typing import Any

from h2mt.aio import aiter_blocking
from h2mt.backends import GenerationStats
from h2mt.pipeline import H2MT
from h2mt.select import build_messages, format_context
from h2mt.types import RouteResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM

from .llm import H2MTLLM

__all__ = ["Generation"]


@dataclass
class Generation:
    """One answer being generated; :attr:`metadata` holds the accounting (complete at the end)."""

    engine: H2MT
    question: str
    route: RouteResult
    llm: LLM | None
    t0: float  # request start (before routing), for TTFT

    def __post_init__(self) -> None:
        r = self.route
        self.metadata: dict[str, Any] = {
            "tokens_total": r.tokens_total, "tokens_kept": r.tokens_kept, "kept_ratio": r.kept_ratio,
            "nodes_scored": r.nodes_scored, "nodes_total": r.nodes_total, "route_ms": r.route_ms,
            "prompt_tokens": 0, "completion_tokens": 0, "prefill_ms": None, "ttft_ms": None,
            "total_ms": None, "peak_mem_bytes": 0, "budget": r.budget,
        }
        prefill = self.engine.config.prefill
        if isinstance(self.llm, H2MTLLM):
            prefill = replace(prefill, max_new_tokens=self.llm.max_new_tokens, temperature=self.llm.temperature,
                              top_p=self.llm.top_p)
        self.prefill = prefill
        context = format_context([k.node for k in r.kept], prefill.breadcrumbs)
        self.messages = build_messages(self.question, context, prefill)

    def _done(self, first: float | None, **stats: Any) -> None:
        now = time.perf_counter()
        self.metadata.update(stats)
        if self.metadata["ttft_ms"] is None:
            self.metadata["ttft_ms"] = ((first or now) - self.t0) * 1000.0
        self.metadata["total_ms"] = (now - self.t0) * 1000.0

    def _native(self) -> Generator[str, None, None]:
        backend = self.llm.backend if isinstance(self.llm, H2MTLLM) else self.engine.backend
        stats = GenerationStats()
        ids = backend.chat_ids(self.messages)
        t_gen = time.perf_counter()
        yield from backend.stream(ids, self.prefill, stats)
        self._done(None, prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                   prefill_ms=stats.prefill_ms, peak_mem_bytes=stats.peak_mem_bytes,
                   ttft_ms=(t_gen - self.t0) * 1000.0 + stats.first_token_ms)

    def _chat_messages(self) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in self.messages]

    def pieces(self) -> Generator[str, None, None]:
        """The answer's text pieces, generated as they are consumed."""
        if self.llm is None or isinstance(self.llm, H2MTLLM):
            yield from self._native()
            return
        first = None
        for resp in self.llm.stream_chat(self._chat_messages()):
            if resp.delta:
                first = first or time.perf_counter()
                yield resp.delta
        self._done(first)

    async def apieces(self) -> AsyncGenerator[str, None]:
        """Async pieces: the h2mt backend runs in a worker thread; other LLMs stream natively."""
        if self.llm is None or isinstance(self.llm, H2MTLLM):
            async for p in aiter_blocking(self._native):
                yield p
            return
        first = None
        async for resp in await self.llm.astream_chat(self._chat_messages()):
            if resp.delta:
                first = first or time.perf_counter()
                yield resp.delta
        self._done(first)
