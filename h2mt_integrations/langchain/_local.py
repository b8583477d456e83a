"""Settings and token generation shared by :class:`ChatH2MT` and :class:`H2MTLLM` (h2mt local backend)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar

from h2mt import BackendConfig, PrefillConfig
from h2mt.aio import aiter_blocking
from h2mt.backends import Backend, GenerationStats
from h2mt.backends.resolve import DEFAULT_MODEL_NAME
from h2mt.backends.tokens import chat_template_ids, count_tokens
from h2mt.config import AnswerTask
from h2mt.query.generate import generate
from h2mt.query.prompt import Prompt
from langchain_core.messages.ai import UsageMetadata
from pydantic import BaseModel, Field, PrivateAttr

__all__ = ["LocalModelSettings", "DEFAULT_MODEL_NAME", "SHARE_MODEL_HELP", "astream_blocking"]

_LOAD_LOCK = threading.Lock()
SHARE_MODEL_HELP = (
    "Share the loaded model with every h2mt component of this process that names the same "
    "configuration (one copy in memory, h2mt.backends.shared); False = load a private copy"
)


class _Chunk(Protocol):
    @property
    def text(self) -> str: ...


C = TypeVar("C", bound=_Chunk)


async def astream_blocking(make: Callable[[], Iterator[C]], run_manager: Any) -> AsyncIterator[C]:
    """The async ``_astream`` of :class:`ChatH2MT` and :class:`H2MTLLM`: their sync ``_stream``
    (``make()``, built without a run manager) runs in a worker thread; each chunk with text is
    reported to the async ``run_manager`` (``on_llm_new_token``) before it is yielded."""
    async for chunk in aiter_blocking(make):
        if run_manager and chunk.text:
            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
        yield chunk


class LocalModelSettings(BaseModel):
    """The local causal LM (loaded on first use) and its generation parameters."""

    model: str | None = Field(
        default=None,
        description="Preset (qwen2.5-coder-0.5b, smollm2-135m), HF causal-LM folder or GGUF file; "
        "None = the default preset",
    )
    gguf_file: str | None = Field(default=None, description="GGUF file name inside `model` when it is a folder")
    device: str = Field(default="auto", description='Torch device: "auto", "cpu", "cuda", "cuda:1", ...')
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(default="auto", description="Compute dtype")
    quantization: Literal["auto", "none", "int8", "nf4"] = Field(
        default="auto", description="bitsandbytes quantization; auto = NF4 on CUDA, none on CPU"
    )
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature; 0 = greedy decoding")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling mass when temperature > 0")
    max_tokens: int = Field(default=256, ge=1, description="Maximum number of generated tokens")
    stop: list[str] | None = Field(default=None, description="Stop strings, merged with the per-call `stop`")
    timeout: float | None = Field(
        default=None, gt=0, description="Wall-clock limit of one call in seconds (checked between tokens)"
    )
    seed: int | None = Field(default=None, description="Sampling seed (reproducible sampling)")
    share_model: bool = Field(default=True, description=SHARE_MODEL_HELP)

    _backend: Backend | None = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    def __init__(self, *, backend: Backend | None = None, **kwargs: Any) -> None:
        """Settings as keywords; ``backend`` injects an already loaded h2mt backend."""
        super().__init__(**kwargs)
        self._backend = backend

    def _backend_config(self) -> BackendConfig:
        return BackendConfig(model=self.model, gguf_file=self.gguf_file, device=self.device, dtype=self.dtype,
                             quantization=self.quantization)

    @property
    def backend(self) -> Backend:
        """The h2mt backend, loaded on first use (GGUF converted once and cached); with
        ``share_model`` the process's one copy for this configuration."""
        with _LOAD_LOCK:
            if self._backend is None:
                from h2mt.backends import load_backend
                from h2mt.backends.shared import quiet_loading, shared_backend

                if self.share_model:
                    self._backend = shared_backend(self._backend_config())
                else:
                    with quiet_loading():
                        self._backend = load_backend(self._backend_config())
            return self._backend

    @property
    def tokenizer(self) -> Any:
        """The generator's own tokenizer: the loaded backend's, else loaded alone (no weights; offline)."""
        if self._backend is not None:
            return self._backend.tokenizer
        with _LOAD_LOCK:
            if self._tokenizer is None:
                from h2mt.backends import load_tokenizer
                from h2mt.backends.shared import shared_tokenizer

                load = shared_tokenizer if self.share_model else load_tokenizer
                self._tokenizer = load(BackendConfig(model=self.model, gguf_file=self.gguf_file))
            return self._tokenizer

    # Token counting with the generator's tokenizer (LangChain's default downloads GPT-2's).
    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` in the generator's tokenizer (no special tokens)."""
        return [int(i) for i in self.tokenizer.encode(text, add_special_tokens=False)]

    def get_num_tokens(self, text: str) -> int:
        """Number of generator tokens of ``text`` (no special tokens); what budgets count."""
        if self._backend is not None:
            return self._backend.count_tokens([text])[0]
        return count_tokens(self.tokenizer, [text])[0]

    def _chat_template_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        """Tokens of ``messages`` in the generator's chat template, reply prompt included."""
        if self._backend is not None:
            return len(self._backend.chat_ids(messages))
        return len(chat_template_ids(self.tokenizer, messages))

    @property
    def model_name(self) -> str:
        """The loaded model's name, else the configured path (or the embedded default's name)."""
        return self._backend.name if self._backend is not None else (self.model or DEFAULT_MODEL_NAME)

    def _prefill_config(self, stop: Sequence[str] | None, kwargs: dict[str, Any]) -> PrefillConfig:
        if kwargs.get("model") not in (None, self.model, self.model_name):
            raise ValueError(
                f"This instance serves {self.model_name!r}; create another one for {kwargs['model']!r}"
            )
        stops = dict.fromkeys([*(self.stop or []), *(stop or [])])
        return PrefillConfig(
            task=AnswerTask.CHAT,
            max_new_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            stop=tuple(s for s in stops if s),
            seed=kwargs.get("seed", self.seed),
        )

    def _pieces(
        self, messages: list[dict[str, str]], stop: Sequence[str] | None, kwargs: dict[str, Any]
    ) -> tuple[Iterator[str], GenerationStats]:
        """Apply the chat template, prefill once and stream text pieces; ``stats`` fills as it runs."""
        cfg = self._prefill_config(stop, kwargs)
        backend = self.backend  # loading time does not count against the timeout
        t0 = time.perf_counter()
        gen = generate(backend, Prompt.of_messages(messages), cfg)
        return _within(iter(gen), kwargs.get("timeout", self.timeout), t0), gen.stats

    def _usage(self, stats: GenerationStats) -> tuple[UsageMetadata, dict[str, Any]]:
        """LangChain usage metadata and response metadata (model name, accounting) of one call."""
        prompt, completion = stats.prompt_tokens or 0, stats.completion_tokens or 0
        usage = UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
        accounting = {**stats.as_dict(), "ttft_ms": stats.first_token_ms}  # TTFT of the model call
        meta = {"model_name": self.model_name, "finish_reason": stats.finish_reason, "accounting": accounting}
        return usage, meta

    def _ls_model(self, kwargs: dict[str, Any]) -> str:
        m = kwargs.get("model")
        return m if isinstance(m, str) else self.model_name


def _within(pieces: Iterator[str], timeout: float | None, t0: float) -> Iterator[str]:
    """Pass ``pieces`` through; raise :class:`TimeoutError` once ``timeout`` seconds have passed."""
    try:
        for piece in pieces:
            if timeout is not None and time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"Generation exceeded timeout={timeout}s; raise it or lower max_tokens")
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
