"""``H2MTLLM``: the h2mt local generator (GGUF or Hugging Face folder, bitsandbytes) as a LlamaIndex LLM."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from h2mt.aio import run_blocking
from h2mt.backends import load_backend, load_tokenizer
from h2mt.backends.shared import quiet_loading, shared_backend, shared_tokenizer
from h2mt.config import AnswerTask, BackendConfig, PrefillConfig
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from ._resources import SHARE_MODEL_HELP, install_tokenizer
from ._stream import Step, as_async, steps, to_chat, to_completion

__all__ = ["H2MTLLM"]

class H2MTLLM(CustomLLM):
    """A local causal LM through h2mt's backend: chat uses the model's chat template; ``metadata``
    reports the model's real context window. ``backend=`` takes an already loaded h2mt backend.
    ``additional_kwargs`` of responses carry the generation stats (prefill and first-token ms)."""

    model: str | None = Field(
        None,
        description="Preset (qwen2.5-coder-0.5b, smollm2-135m), HF folder or GGUF file; None = the default preset.",
    )
    gguf_file: str | None = Field(None, description="GGUF file name inside `model` when it is a folder.")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Compute dtype.")
    quantization: Literal["auto", "none", "int8", "nf4"] = Field(
        "auto", description="bitsandbytes quantization; auto = NF4 on CUDA, none on CPU.")
    max_new_tokens: int = Field(256, ge=1, description="Tokens generated per call (LLMMetadata.num_output).")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature; 0 = greedy decoding.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling when temperature > 0.")
    chat_template: bool = Field(True, description="Wrap complete() prompts in the chat template as one "
                                "user message (after the system prompt); False = raw text.")
    share_model: bool = Field(True, description=SHARE_MODEL_HELP)

    _backend: Any = PrivateAttr(None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, *, backend: Any = None, **data: Any) -> None:
        if backend is not None:
            data.setdefault("model", backend.name)
        super().__init__(**data)
        self._backend = backend
        if backend is not None:
            tokenizer = backend.tokenizer
        else:
            tokenizer = (shared_tokenizer if self.share_model else load_tokenizer)(self._config())
        install_tokenizer(tokenizer)

    @classmethod
    def class_name(cls) -> str:
        """Name in LlamaIndex serialisation."""
        return "H2MTLLM"

    def _config(self) -> BackendConfig:
        return BackendConfig(model=self.model, gguf_file=self.gguf_file, device=self.device, dtype=self.dtype,
                             quantization=self.quantization)

    @property
    def backend(self) -> Any:
        """The loaded h2mt backend (loaded on first use; with ``share_model`` the process's one copy)."""
        with self._lock:
            if self._backend is None:
                if self.share_model:
                    self._backend = shared_backend(self._config())
                else:
                    with quiet_loading():
                        self._backend = load_backend(self._config())
            return self._backend

    @property
    def metadata(self) -> LLMMetadata:
        """The model's context window and name; a chat model (templates are applied here)."""
        b = self.backend
        return LLMMetadata(context_window=b.context_window, num_output=self.max_new_tokens,
                           is_chat_model=True, model_name=b.name)

    # ---- prompt ids and generation -------------------------------------------------------
    def _prompt_ids(self, prompt: str, formatted: bool) -> list[int]:
        text = prompt if formatted or self.completion_to_prompt is None else self.completion_to_prompt(prompt)
        if not self.chat_template:
            return list(self.backend.tokenizer(text, add_special_tokens=True)["input_ids"])
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return self.backend.chat_ids([*system, {"role": "user", "content": text}])

    def _chat_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        return self.backend.chat_ids([{"role": m.role.value, "content": m.content or ""} for m in messages])

    def _steps(self, ids: list[int], kw: dict[str, Any]) -> Iterator[Step]:
        cfg = PrefillConfig(task=AnswerTask.CHAT, max_new_tokens=kw.get("max_new_tokens", self.max_new_tokens),
                            temperature=kw.get("temperature", self.temperature), top_p=kw.get("top_p", self.top_p),
                            stop=tuple(kw.get("stop") or ()), seed=kw.get("seed"))
        return steps(self.backend, ids, cfg)

    def _last(self, ids: list[int], kw: dict[str, Any]) -> Step:
        *_, last = self._steps(ids, kw)  # the final step carries the text and the stats
        return last

    # ---- LlamaIndex API ------------------------------------------------------------------
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Generate the whole completion of ``prompt``."""
        return to_completion(self._last(self._prompt_ids(prompt, formatted), kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream the completion of ``prompt`` (``delta`` = new text)."""
        return (to_completion(s) for s in self._steps(self._prompt_ids(prompt, formatted), kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """:meth:`complete` run off the event loop."""
        return to_completion(await run_blocking(lambda: self._last(self._prompt_ids(prompt, formatted), kwargs)))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async token stream; generation runs in a worker thread."""
        return as_async(lambda: (to_completion(s) for s in self._steps(self._prompt_ids(prompt, formatted), kwargs)))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Reply to ``messages`` (rendered with the model's chat template)."""
        return to_chat(self._last(self._chat_ids(messages), kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream the reply to ``messages``."""
        return (to_chat(s) for s in self._steps(self._chat_ids(messages), kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """:meth:`chat` run off the event loop."""
        return to_chat(await run_blocking(lambda: self._last(self._chat_ids(messages), kwargs)))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async reply stream; generation runs in a worker thread."""
        return as_async(lambda: (to_chat(s) for s in self._steps(self._chat_ids(messages), kwargs)))
