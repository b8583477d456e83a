"""Token counting: the one :class:`TokenCounter` of a generator's tokenizer, and its name.

Budgets and leaf sizes are counted in the generator's tokens; the counter's ``name`` is
recorded in the index (``meta["tokenizer"]``) so a later ``add`` counts the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CountFn", "TokenCounter", "counter_name", "count_tokens", "truncate_to_tokens"]

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

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (shipped to build workers): the lock is not sent, a fresh one is made."""
        return {"tokenizer": self.tokenizer, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.tokenizer, self.name, self._lock = state["tokenizer"], state["name"], threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text, one batch call."""
        with self._lock:
            return count_tokens(self.tokenizer, texts)

    @classmethod
    def for_backend(cls, backend: Any) -> TokenCounter:
        """The counter of a loaded backend (its own, when it has one)."""
        own = getattr(backend, "counter", None)
        return own if isinstance(own, TokenCounter) else cls(backend.tokenizer, backend.name)


def counter_name(count: CountFn) -> str:
    """The name a counter records in the index (its ``name``, else its type's name)."""
    return str(getattr(count, "name", None) or type(count).__name__)


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Number of tokens of each text, without special tokens, encoded as one batch.

    Uses the Rust tokenizer's (parallel) batch encoder directly when the tokenizer is fast
    and has no truncation/padding configured, else the regular tokenizer call.
    """
    batch = [str(t) for t in texts]
    if not batch:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.truncation is None and backend.padding is None:
        encode = getattr(backend, "encode_batch_fast", None) or backend.encode_batch
        return [len(enc) for enc in encode(batch, add_special_tokens=False)]
    encoded = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]


def truncate_to_tokens(text: str, budget: int, count: CountFn) -> str:
    """The longest prefix of ``text`` that ``count`` measures at most ``budget`` tokens, cut back to
    a word boundary when there is one (binary search over characters: any counter works)."""
    if budget < 1:
        return ""
    if count([text])[0] <= budget:
        return text
    lo, hi = 0, len(text)  # count(text[:lo]) <= budget < count(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count([text[:mid]])[0] <= budget:
            lo = mid
        else:
            hi = mid
    cut = text[:lo]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:space] if space > 0 else cut).rstrip()
