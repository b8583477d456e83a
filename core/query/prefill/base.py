"""The prefill-strategy protocol and its registry: what kept leaves become, and how it is prefilled.

A strategy has two steps, the second and third of the question path (docs/architecture.md
section 1): ``prompt`` turns a question and its kept leaves into a :class:`~h2mt.query.prompt.Prompt`
(messages, token ids and whatever else the strategy needs, e.g. soft tokens), and ``stream``
prefills that prompt once on a backend and yields the reply's text pieces.

The registry is :class:`h2mt.config.PrefillMode`: mode ``m`` is served by the module
``h2mt.query.prefill.<m.value>``, whose ``STRATEGY`` is the strategy object. Adding a mode is one
member there, one module here and its tests (docs/architecture.md section 5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from ...config import PrefillConfig, PrefillMode
from ...errors import ConfigError
from ...types import GenerationStats, ScoredNode
from ..prompt import ChatTemplate, Encode, Prompt, SplitTemplate

if TYPE_CHECKING:
    from ...backends.base import Backend

__all__ = ["PromptTools", "PrefillStrategy", "prefill_strategy"]


@dataclass(frozen=True)
class PromptTools:
    """What a strategy may need from the engine to make a prompt.

    ``template`` is the generator's chat template (``Backend.chat_ids``); ``memory(what)``
    returns the index's HMT node memories on the loaded HMT (``what`` names the caller in the
    error raised when the index has none); ``None`` where no memories can be had. The blocks
    layout needs ``split`` (the template's ids around a marker) and ``encode`` (a text's ids);
    kv prefill also ``kv_store(prefix_ids, kv_config)``, the leaf KV store of this index and
    generator, and ``doc_key(node)``, the key of a leaf's document in the index.
    """

    template: ChatTemplate
    memory: Callable[[str], Any] | None = None  # -> memory.MemoryReader (not named: no import cycle)
    split: SplitTemplate | None = None
    encode: Encode | None = None
    kv_store: Callable[[Sequence[int], Any], Any] | None = None  # -> kv_store.KVStore
    doc_key: Callable[[Any], str] | None = None


class PrefillStrategy(Protocol):
    """One way to prefill the kept leaves (text, memory embeddings, ...)."""

    mode: PrefillMode

    def prompt(self, question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig, tools: PromptTools) -> Prompt:
        """The prompt for ``question`` over ``kept`` leaves (document order), with ``mode`` set to this strategy's."""
        ...

    def stream(self, backend: Backend, prompt: Prompt, cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """Prefill ``prompt`` once on ``backend`` and yield the reply's text pieces, filling ``stats``."""
        ...


def prefill_strategy(mode: PrefillMode | str) -> PrefillStrategy:
    """The strategy serving ``mode`` (``h2mt.query.prefill.<mode>.STRATEGY``); imported on first use."""
    try:
        m = PrefillMode(mode)
    except ValueError:
        allowed = ", ".join(x.value for x in PrefillMode)
        raise ConfigError(f"Unknown prefill mode {mode!r}: use one of {allowed}") from None
    module = import_module(f"{__package__}.{m.value}")
    strategy: PrefillStrategy = module.STRATEGY
    return strategy
