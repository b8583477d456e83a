"""The ``Backend`` protocol: what the pipeline needs from a local causal LM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..config import PrefillConfig

__all__ = ["Backend", "GenerationStats"]


@dataclass
class GenerationStats:
    """Filled in by :meth:`Backend.stream` while it runs (times in ms from the call)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_ms: float = 0.0  # the single forward pass over the prompt
    first_token_ms: float = 0.0  # call start -> first token decoded
    total_ms: float = 0.0  # call start -> generation finished
    peak_mem_bytes: int = 0  # CUDA: max_memory_allocated; CPU: process peak RSS
    finish_reason: str = ""  # "stop" (EOS or stop string) or "length"


@runtime_checkable
class Backend(Protocol):
    """A local causal LM that can count tokens, build chat prompts, prefill and stream."""

    name: str  # model name for reports
    context_window: int  # max positions the model accepts
    tokenizer: Any  # the model's Hugging Face tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no special tokens)."""
        ...

    def chat_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` in the model's chat template, ready for the reply."""
        ...

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        """One forward pass; returns (last-position logits as a 1-D tensor, ms)."""
        ...

    def stream(
        self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats
    ) -> Iterator[str]:
        """Prefill ``input_ids`` once, then yield decoded text pieces as they are generated."""
        ...
