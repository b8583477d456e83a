"""Memory-token prefill for :class:`H2MTRunnable` (``prefill="memory" | "hybrid"``).

The documents' small hierarchy is built with HMT node memories on the :class:`ChatH2MT`'s own
generator, and the prompt (h2mt's :func:`h2mt.query.prefill.memory.build_memory_prompt`) is prefilled
there directly with its soft tokens: the chat model's message path stays text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from h2mt import ConfigError, H2MTConfig, MemoryConfig, PrefillConfig, RouteResult
from h2mt.query.generate import Generation, generate
from h2mt.query.prompt import Prompt
from langchain_core.documents import Document
from langchain_core.messages import AIMessage

from ._routing import RoutingSettings, route_documents_engine
from .chat_model import ChatH2MT

__all__ = ["memory_prompt", "memory_generation", "memory_message"]


def memory_prompt(
    settings: RoutingSettings, llm: Any, docs: Sequence[Document], question: str, prefill: PrefillConfig,
    weights: str | None,
) -> tuple[list[Document], RouteResult | None, Prompt | None]:
    """Route ``docs`` for ``question`` and build the memory/hybrid prompt (None without documents)."""
    if not isinstance(llm, ChatH2MT):
        raise ConfigError(
            f"prefill={prefill.mode.value!r} needs h2mt's own chat model (ChatH2MT) to prefill memory embeddings; "
            f"{type(llm).__name__} reads text only: use prefill='text' with it."
        )
    cfg = H2MTConfig(memory=MemoryConfig(kind="hmt", weights=weights), prefill=prefill)
    sources, r, eng = route_documents_engine(
        docs, question, encoder=settings.encoder, token_counter=settings.token_counter, budget=settings.budget,
        beam_width=settings.beam_width, config=cfg, backend=llm.backend)
    if eng is None or r is None:
        return sources, r, None
    return sources, r, eng.prompt(question, r.kept, prefill)


def memory_generation(llm: ChatH2MT, prompt: Prompt, prefill: PrefillConfig) -> Generation:
    """The prompt prefilled once on the chat model's generator, soft tokens included."""
    return generate(llm.backend, prompt, prefill)


def memory_message(llm: ChatH2MT, gen: Generation) -> AIMessage:
    """The finished generation as the chat model would report it (usage + accounting metadata)."""
    usage, meta = llm._usage(gen.stats)
    return AIMessage(content=gen.text, usage_metadata=usage, response_metadata=meta)
