"""Text prefill (the default): the kept leaves as raw text under breadcrumb headings.

The prompt is :func:`h2mt.query.prompt.build_prompt`; it is prefilled as token ids, or sent as
chat messages to a backend that templates them itself (a server).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ...backends.base import MessageBackend
from ...config import PrefillConfig, PrefillMode, PromptLayout
from ...errors import ConfigError
from ...types import GenerationStats, ScoredNode
from ..prompt import Prompt, build_block_prompt, build_prompt
from .base import PromptTools

if TYPE_CHECKING:
    from ...backends.base import Backend

__all__ = ["TextPrefill", "STRATEGY"]


class TextPrefill:
    """Every kept leaf as text; one prefill of the prompt's ids."""

    mode = PrefillMode.TEXT

    def prompt(self, question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig, tools: PromptTools) -> Prompt:
        """:func:`~h2mt.query.prompt.build_prompt` in the generator's chat template; in the blocks layout
        :func:`~h2mt.query.prompt.build_block_prompt` (kv prefill's ids, every token prefilled)."""
        if cfg.prompt_layout == PromptLayout.BLOCKS:
            if tools.split is None or tools.encode is None:
                raise ConfigError("The blocks layout needs the generator's tokenizer (split and encode)")
            return build_block_prompt(question, kept, cfg, tools.split, tools.encode)
        return build_prompt(question, kept, cfg, tools.template)

    def stream(self, backend: Backend, prompt: Prompt, cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """The prompt's ids on a local backend; its messages on a backend that templates them (a server)."""
        if prompt.messages and isinstance(backend, MessageBackend) and backend.takes_messages:
            return backend.stream_messages(prompt.messages, cfg, stats)
        return backend.stream(prompt.ids, cfg, stats)


STRATEGY = TextPrefill()
