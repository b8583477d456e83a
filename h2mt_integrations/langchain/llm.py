"""``H2MTLLM``: the plain (string in, string out) LangChain LLM over the h2mt local backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LLM, LangSmithParams, LanguageModelInput
from langchain_core.outputs import GenerationChunk
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import Field

from ._local import LocalModelSettings, astream_blocking

__all__ = ["H2MTLLM"]


class H2MTLLM(LocalModelSettings, LLM):
    """Text-completion LLM: the prompt becomes the user turn of the model's chat template.

    Same settings as :class:`ChatH2MT`; the last streamed chunk's ``generation_info`` holds
    ``finish_reason``, ``usage`` and ``accounting``.
    """

    system_prompt: str | None = Field(default=None, description="Optional system message before the prompt")

    @property
    def _llm_type(self) -> str:
        return "h2mt"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        keys = ("model", "gguf_file", "quantization", "temperature", "top_p", "max_tokens", "stop", "seed")
        return {k: getattr(self, k) for k in keys}

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        """Run the inputs concurrently, one run each (LangChain's ``Runnable.batch``, a thread pool
        bounded by ``max_concurrency``). ``BaseLLM.batch`` would pass them to one ``generate``
        call, which ``LLM`` runs one after another."""
        return Runnable.batch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`batch`: the inputs' ``ainvoke`` calls run concurrently."""
        return await Runnable.abatch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "h2mt"
        params["ls_model_name"] = self._ls_model(kwargs)
        return params

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        pieces, stats = self._pieces([*messages, {"role": "user", "content": prompt}], stop, kwargs)
        for piece in pieces:
            chunk = GenerationChunk(text=piece)
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        usage, meta = self._usage(stats)
        yield GenerationChunk(text="", generation_info={**meta, "usage": dict(usage)})

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        async for chunk in astream_blocking(lambda: self._stream(prompt, stop, None, **kwargs), run_manager):
            yield chunk

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return "".join(c.text for c in self._stream(prompt, stop, run_manager, **kwargs))

    async def _acall(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return "".join([c.text async for c in self._astream(prompt, stop, run_manager, **kwargs)])
