"""Memory-token prefill for :class:`H2MTRunnable` (``prefill="memory" | "hybrid"``).

The documents' small hierarchy is built with HMT node memories on the :class:`ChatH2MT`'s own
generator, and the prompt (the engine's prompt step, :meth:`h2mt.H2MT.prompt`) is prefilled there
directly with its soft tokens: the chat model's message path stays text.
"""

from __future__ import annotations

from h2mt import PrefillConfig
from h2mt.query.generate import Generation, generate
from h2mt.query.prompt import Prompt
from langchain_core.messages import AIMessage

from .chat_model import ChatH2MT

__all__ = ["memory_generation", "memory_message"]


def memory_generation(llm: ChatH2MT, prompt: Prompt, prefill: PrefillConfig) -> Generation:
    """The prompt prefilled once on the chat model's generator, soft tokens included."""
    return generate(llm.backend, prompt, prefill)


def memory_message(llm: ChatH2MT, gen: Generation) -> AIMessage:
    """The finished generation as the chat model would report it (usage + accounting metadata)."""
    usage, meta = llm._usage(gen.stats)
    return AIMessage(content=gen.text, usage_metadata=usage, response_metadata=meta)
