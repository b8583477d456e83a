"""``ChatH2MT``: a LangChain chat model over the h2mt local backend (HF folder or GGUF; bitsandbytes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal, NoReturn

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from ._convert import to_chat_messages
from ._local import LocalModelSettings, astream_blocking
from ._structured import structured_output

__all__ = ["ChatH2MT"]

_NO_TOOLS = (
    "ChatH2MT does not support tool calling: h2mt runs small local models without a tool-calling "
    "template. Use a tool-calling chat model for the agent and give it h2mt as a tool, e.g. "
    "langchain_core.tools.create_retriever_tool(H2MTRetriever(index_path=...), name, description), "
    "or call H2MTRunnable / H2MTRetriever directly in your chain."
)


class ChatH2MT(LocalModelSettings, BaseChatModel):
    """Chat model running a local causal LM through h2mt (chat template, one prefill, streamed decode).

    Every message carries ``usage_metadata`` and ``response_metadata`` (``model_name``,
    ``finish_reason``, ``accounting``: prompt/completion tokens, prefill/TTFT/total ms, peak memory).
    Standard parameters ``temperature``, ``max_tokens``, ``stop`` and ``timeout`` are honoured,
    per instance or per call. Structured output (:meth:`with_structured_output`) by a JSON prompt and
    validation. Text only: no tool calling or multimodal input.

    Example:
        .. code-block:: python

            llm = ChatH2MT(max_tokens=64)  # the default generator, loaded on first use
            for chunk in llm.stream("What is PostgreSQL?"):
                print(chunk.content, end="")
    """

    streaming: bool = Field(default=False, description="Stream through callbacks even when invoked")

    @property
    def _llm_type(self) -> str:
        return "h2mt-chat"

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Tokens of ``messages`` as the model reads them: its chat template, reply prompt included
        (``trim_messages(..., token_counter=llm)`` counts with this). ``tools`` are not supported."""
        if tools:
            raise NotImplementedError(_NO_TOOLS)
        return self._chat_template_tokens(to_chat_messages(messages))

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> NoReturn:
        """Not supported; raises :class:`NotImplementedError` saying what to use instead."""
        raise NotImplementedError(_NO_TOOLS)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        include_raw: bool = False,
        method: Literal["json_schema", "json_mode", "function_calling"] = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Replies as JSON following ``schema`` (a pydantic class: validated into an instance; a JSON
        schema, TypedDict or function: a dict). The schema goes into the system message and the reply
        is parsed and validated: no constrained decoding and no tool calling, so every ``method``
        (``"function_calling"`` included) is this JSON prompt; ``"json_mode"`` needs no schema. A
        reply that does not parse or validate raises ``OutputParserException``, or with
        ``include_raw`` comes back as ``parsing_error`` beside ``raw``. ``strict`` is accepted for
        compatibility: pydantic validation is always strict about the schema."""
        if kwargs:
            raise ValueError(f"ChatH2MT.with_structured_output got unsupported arguments {sorted(kwargs)}")
        return structured_output(self, schema, method=method, include_raw=include_raw)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        keys = ("model", "gguf_file", "quantization", "temperature", "top_p", "max_tokens", "stop", "seed")
        return {k: getattr(self, k) for k in keys}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "h2mt"
        params["ls_model_name"] = self._ls_model(kwargs)
        if not stop and self.stop:
            params["ls_stop"] = list(self.stop)
        return params

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        pieces, stats = self._pieces(to_chat_messages(messages), stop, kwargs)
        for piece in pieces:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        usage, meta = self._usage(stats)
        last = AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta, chunk_position="last")
        yield ChatGenerationChunk(message=last, generation_info={"finish_reason": stats.finish_reason})

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = astream_blocking(lambda: self._stream(messages, stop, None, **kwargs), run_manager)
        async for chunk in chunks:
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
