"""Token counting: the one :class:`TokenCounter` of a generator's tokenizer, and its name.

Budgets and leaf sizes are counted in the generator's tokens; the counter's ``name`` is
recorded in the index (``meta["tokenizer"]``) so a later ``add`` counts the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import BackendConfig

__all__ = ["CountFn", "TokenCounter", "counter_name"]

CountFn = Callable[[Sequence[str]], list[int]]
"""Anything that maps a batch of texts to their token counts."""


class TokenCounter:
    """Counts tokens (no special tokens) with a Hugging Face tokenizer; ``name`` identifies it.

    Calls are serialised by ``lock`` (the Rust tokenizer is not safe under concurrent use); a
    backend passes its own lock so counting and chat templating never overlap.
    """

    def __init__(self, tokenizer: Any, name: str | None = None, *, lock: Any = None) -> None:
        self.tokenizer = tokenizer
        self.name = name or str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
        self._lock = lock if lock is not None else threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text, one batch call."""
        from .backends.tokens import count_tokens

        with self._lock:
            return count_tokens(self.tokenizer, texts)

    @classmethod
    def load(cls, cfg: BackendConfig) -> TokenCounter:
        """The counter of the generator ``cfg`` names: its tokenizer only, no weights."""
        from .backends import load_tokenizer

        return cls(load_tokenizer(cfg))

    @classmethod
    def for_backend(cls, backend: Any) -> TokenCounter:
        """The counter of a loaded backend (its own, when it has one)."""
        own = getattr(backend, "counter", None)
        return own if isinstance(own, TokenCounter) else cls(backend.tokenizer, backend.name)


def counter_name(count: CountFn) -> str:
    """The name a counter records in the index (its ``name``, else its type's name)."""
    return str(getattr(count, "name", None) or type(count).__name__)
