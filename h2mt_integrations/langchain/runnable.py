"""``H2MTRunnable``: route documents under a token budget and answer, in place of "stuff documents"."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from h2mt import ConfigError, H2MTConfig, MemoryConfig, PrefillConfig
from h2mt.aio import aiter_blocking, run_blocking
from h2mt.config import AnswerTask, KVConfig, PrefillMode
from h2mt.counting import CountFn
from h2mt.query.prompt import Prompt, build_prompt
from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, BaseMessageChunk, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableSerializable, patch_config
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, Field

from ._memory import memory_generation, memory_message
from ._routing import RoutingSettings, route_documents_engine
from ._schema import H2MTInput, H2MTOutput, Turn, merge_chunks, parse_input
from .chat_model import ChatH2MT

__all__ = ["H2MTRunnable"]


class H2MTRunnable(RoutingSettings, RunnableSerializable[dict[str, Any], dict[str, Any]]):
    """``{"question", "documents"}`` (or ``{"input", "context"}``, optional ``chat_history``) ->
    ``{"answer", "sources", "stats"}``.

    The documents become the leaves of a small h2mt hierarchy; routing keeps the best ones under
    ``budget`` tokens, the chat model (a nested run that receives this run's callbacks, tags and
    metadata) answers over them. ``sources`` are the kept documents with ``path`` and ``score``;
    ``stats`` is the accounting (tokens kept/total, route/prefill/TTFT ms, peak memory...).
    ``stream``/``astream`` yield ``{"sources"}`` first, then ``{"answer": piece}``, then ``{"stats"}``.

    Example:
        .. code-block:: python

            chain = {"context": retriever, "question": RunnablePassthrough()} | H2MTRunnable(budget=1024)
            out = chain.invoke("What is the default value of work_mem?")
    """

    llm: BaseChatModel = Field(default_factory=ChatH2MT, description="Chat model that answers (nested run)")
    task: AnswerTask = Field(
        default=AnswerTask.SHORT, description="Answer task (h2mt.config.AnswerTask): short = the exact name, "
        "value or phrase; explain = a few grounded sentences; chat = a plain chat turn over the context")
    system_prompt: str = Field(default="", description="System message of the prompt; '' = the task's")
    breadcrumbs: bool = Field(default=True, description="Put kept documents under their heading paths")
    prefill: PrefillMode = Field(
        default=PrefillMode.TEXT, description="How kept documents enter the prompt "
        "(h2mt.config.PrefillMode): text; memory/hybrid: as HMT memory embeddings; kv: as their cached "
        "KV, re-rotated and joined (these need ChatH2MT; prefilled on its generator directly, not through its "
        "message path; kv keeps the caches of one call's documents in memory)")
    recompute_first: int = Field(default=0, ge=0, description="kv: recompute the first K tokens of each block")
    recompute_ratio: float = Field(default=0.0, ge=0.0, le=1.0,
                                   description="kv: recompute this share of context tokens (by KV deviation)")
    kv_adapter: str = Field(default="off", description="kv: the block-attention adapter on for the question and "
                            "answer: off, auto (the one shipped for the generator) or an adapter folder")
    text_leaves: int = Field(default=1, ge=0, description="hybrid: this many top documents stay text")
    hmt_weights: str | None = Field(default=None, description="HMT memory folder (None: the shipped one)")

    def _default_counter(self) -> CountFn:
        if isinstance(self.llm, ChatH2MT):  # the budget is counted in the answering model's tokens
            return self.llm.backend.count_tokens
        return super()._default_counter()

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Pydantic schema of the input dict."""
        return H2MTInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Pydantic schema of the output dict."""
        return H2MTOutput

    def _prefill_config(self) -> PrefillConfig:
        return PrefillConfig(task=self.task, system_prompt=self.system_prompt, breadcrumbs=self.breadcrumbs,
                             mode=self.prefill, text_leaves=self.text_leaves,
                             kv=KVConfig(recompute_first=self.recompute_first, recompute_ratio=self.recompute_ratio,
                                         adapter=self.kv_adapter),
                             max_new_tokens=int(getattr(self.llm, "max_tokens", 0) or 0))

    def _prepare(self, inp: Mapping[str, Any]) -> Turn:
        """Route the documents and make the prompt with h2mt's prompt step (:meth:`h2mt.H2MT.prompt`).

        Memory/hybrid prefill (no chat history) returns the h2mt prompt itself, to be prefilled on
        the ChatH2MT's generator; otherwise the prompt's messages, with ``chat_history`` placed
        before the question, go to ``llm``."""
        t0 = time.perf_counter()
        question, docs, history = parse_input(inp)
        cfg = self._prefill_config()
        if cfg.mode != PrefillMode.TEXT and history:  # memory embeddings are not a chat history
            cfg = replace(cfg, mode=PrefillMode.TEXT)
        memory = cfg.mode != PrefillMode.TEXT  # memory embeddings or cached KV: prefilled on the generator itself
        if memory and not isinstance(self.llm, ChatH2MT):
            what = "KV caches" if cfg.mode == PrefillMode.KV else "memory embeddings"
            raise ConfigError(
                f"prefill={cfg.mode.value!r} needs h2mt's own chat model (ChatH2MT) to prefill {what}; "
                f"{type(self.llm).__name__} reads text only: use prefill='text' with it."
            )
        own = isinstance(self.llm, ChatH2MT)
        hmt = cfg.mode in (PrefillMode.MEMORY, PrefillMode.HYBRID)
        config = H2MTConfig(prefill=cfg, memory=MemoryConfig(kind="hmt", weights=self.hmt_weights) if hmt
                            else MemoryConfig())
        sources, r, eng = route_documents_engine(
            docs, question, encoder=self.encoder, token_counter=self.token_counter, budget=self.budget,
            beam_width=self.beam_width, config=config, backend=self.llm.backend if own else _OwnTemplate())
        if eng is not None and r is not None:
            prompt = eng.prompt(question, r.kept, cfg)
        else:  # no documents: the engine's text prompt step over nothing
            prompt = build_prompt(question, [], replace(cfg, mode=PrefillMode.TEXT))
            memory = False
        if memory:
            return Turn(sources, r, [], t0, time.perf_counter(), prompt)
        return Turn(sources, r, _with_history(prompt, history), t0, time.perf_counter())

    # ---- invoke ----------------------------------------------------------------------------
    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Route, answer, return ``{"answer", "sources", "stats"}``."""
        return self._call_with_config(self._invoke, input, config)

    def _invoke(self, input: dict[str, Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
                ) -> dict[str, Any]:
        turn = self._prepare(input)
        if turn.prompt is not None:  # memory prefill: straight to the generator
            msg = self._memory_answer(turn)
        else:
            msg = self.llm.invoke(turn.messages, config=patch_config(config, callbacks=run_manager.get_child()))
        return {"answer": msg.text, "sources": turn.sources, "stats": turn.stats(msg)}

    def _memory_answer(self, turn: Turn) -> Any:
        gen = memory_generation(self.llm, turn.prompt, self._prefill_config())  # type: ignore[arg-type]
        gen.run()
        return memory_message(self.llm, gen)  # type: ignore[arg-type]

    def _memory_stream(self, turn: Turn) -> Iterator[dict[str, Any]]:
        gen = memory_generation(self.llm, turn.prompt, self._prefill_config())  # type: ignore[arg-type]
        first: float | None = None
        for piece in gen:
            first = first or time.perf_counter()
            yield AddableDict(answer=piece)
        yield AddableDict(stats=turn.stats(memory_message(self.llm, gen), first))  # type: ignore[arg-type]

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """:meth:`invoke` without blocking the event loop."""
        return await self._acall_with_config(self._ainvoke, input, config)

    async def _ainvoke(self, input: dict[str, Any], run_manager: AsyncCallbackManagerForChainRun,
                       config: RunnableConfig) -> dict[str, Any]:
        turn = await run_blocking(lambda: self._prepare(input))
        if turn.prompt is not None:
            msg = await run_blocking(lambda: self._memory_answer(turn))
            return {"answer": msg.text, "sources": turn.sources, "stats": turn.stats(msg)}
        msg = await self.llm.ainvoke(turn.messages, config=patch_config(config, callbacks=run_manager.get_child()))
        return {"answer": msg.text, "sources": turn.sources, "stats": turn.stats(msg)}

    # ---- streaming ---------------------------------------------------------------------------
    def stream(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
               ) -> Iterator[dict[str, Any]]:
        """Yield ``{"sources", "answer": ""}``, answer pieces, then ``{"stats"}``."""
        yield from self.transform(iter([input]), config)

    def transform(self, input: Iterator[dict[str, Any]], config: RunnableConfig | None = None, **kwargs: Any
                  ) -> Iterator[dict[str, Any]]:
        """Stream over a (possibly streamed) input dict."""
        yield from self._transform_stream_with_config(input, self._transform, config)

    def _transform(self, inputs: Iterator[dict[str, Any]], run_manager: CallbackManagerForChainRun,
                   config: RunnableConfig) -> Iterator[dict[str, Any]]:
        turn = self._prepare(merge_chunks(list(inputs)))
        yield AddableDict(sources=turn.sources, answer="")
        if turn.prompt is not None:
            yield from self._memory_stream(turn)
            return
        full: BaseMessageChunk | None = None
        first: float | None = None
        for chunk in self.llm.stream(turn.messages, config=patch_config(config, callbacks=run_manager.get_child())):
            full = chunk if full is None else full + chunk
            if chunk.text:
                first = first or time.perf_counter()
                yield AddableDict(answer=chunk.text)
        yield AddableDict(stats=turn.stats(full, first))

    async def astream(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
                      ) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`stream`."""
        async def one() -> AsyncIterator[dict[str, Any]]:
            yield input

        async for item in self.atransform(one(), config):
            yield item

    async def atransform(self, input: AsyncIterator[dict[str, Any]], config: RunnableConfig | None = None,
                         **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """Async :meth:`transform`."""
        async for item in self._atransform_stream_with_config(input, self._atransform, config):
            yield item

    async def _atransform(self, inputs: AsyncIterator[dict[str, Any]], run_manager: AsyncCallbackManagerForChainRun,
                          config: RunnableConfig) -> AsyncIterator[dict[str, Any]]:
        inp = merge_chunks([x async for x in inputs])
        turn = await run_blocking(lambda: self._prepare(inp))
        yield AddableDict(sources=turn.sources, answer="")
        if turn.prompt is not None:
            async for item in aiter_blocking(lambda: self._memory_stream(turn)):
                yield item
            return
        full: BaseMessageChunk | None = None
        first: float | None = None
        child = patch_config(config, callbacks=run_manager.get_child())
        async for chunk in self.llm.astream(turn.messages, config=child):
            full = chunk if full is None else full + chunk
            if chunk.text:
                first = first or time.perf_counter()
                yield AddableDict(answer=chunk.text)
        yield AddableDict(stats=turn.stats(full, first))


class _OwnTemplate:
    """The generator side of :meth:`h2mt.H2MT.prompt` for a chat model that applies its own chat
    template (any LangChain chat model but :class:`ChatH2MT`): the prompt step gets no token ids
    from it (the model is sent the prompt's messages) and no h2mt generator is loaded for it."""

    name = "external chat model"
    context_window = 0  # unknown: the chat model checks its own window
    tokenizer = None

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """No ids: the external model templates the messages itself."""
        return []


_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage,
                                                "assistant": AIMessage}


def _with_history(prompt: Prompt, history: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The prompt's chat messages as LangChain messages, ``history`` placed before the last (the question)."""
    msgs = [_MESSAGE_TYPES[m["role"]](m["content"]) for m in prompt.messages]
    return [*msgs[:-1], *history, *msgs[-1:]]
