"""The ``Backend`` protocol: what the pipeline needs from a local causal LM."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..config import PrefillConfig
from ..types import GenerationStats

__all__ = ["Backend", "MessageBackend", "GenerationStats"]


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


@runtime_checkable
class MessageBackend(Backend, Protocol):
    """A backend that templates chat messages itself (a server): with ``takes_messages`` true,
    :func:`h2mt.query.generate.generate` calls :meth:`stream_messages` with the prompt's messages."""

    takes_messages: bool

    def stream_messages(
        self, messages: Sequence[Mapping[str, str]], cfg: PrefillConfig, stats: GenerationStats
    ) -> Iterator[str]:
        """Send ``messages`` and yield the reply's text pieces as they arrive."""
        ...
