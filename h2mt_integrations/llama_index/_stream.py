"""h2mt backend token streams as LlamaIndex completion and chat responses."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, TypeVar

from h2mt.aio import aiter_blocking
from h2mt.config import PrefillConfig
from h2mt.query.generate import generate
from h2mt.query.prompt import Prompt
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, MessageRole

__all__ = ["Step", "as_async", "steps", "to_chat", "to_completion"]

Step = tuple[str, str, dict[str, Any]]  # (delta, text so far, generation stats: filled when the stream ends)
T = TypeVar("T")


def steps(backend: Any, ids: list[int], cfg: PrefillConfig) -> Iterator[Step]:
    """One step per decoded piece, then a final step (empty delta) whose stats are complete."""
    gen, info, text = generate(backend, Prompt.of_messages([], ids), cfg), dict[str, Any](), ""
    for piece in gen:
        text += piece
        yield piece, text, info
    info.update(gen.stats.as_dict())
    yield "", text, info


def to_completion(step: Step) -> CompletionResponse:
    """A completion response for ``step``."""
    return CompletionResponse(text=step[1], delta=step[0], additional_kwargs=step[2])


def to_chat(step: Step) -> ChatResponse:
    """An assistant chat response for ``step``."""
    msg = ChatMessage(role=MessageRole.ASSISTANT, content=step[1])
    return ChatResponse(message=msg, delta=step[0], additional_kwargs=step[2])


def as_async(make: Callable[[], Iterator[T]]) -> AsyncGenerator[T, None]:
    """An async generator over ``make()``, which runs in a worker thread (the loop stays free)."""

    async def gen() -> AsyncGenerator[T, None]:
        async for item in aiter_blocking(make):
            yield item

    return gen()
