"""Token counting and chat-prompt ids with any Hugging Face tokenizer (no torch needed)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..counting import TokenCounter, count_tokens

__all__ = ["LocalTokenizer", "chat_template_ids", "count_tokens"]


def _as_id_list(out: Any) -> list[int]:
    """Plain ``list[int]`` from whatever ``apply_chat_template`` returned (list, dict, tensor)."""
    if isinstance(out, Mapping) or hasattr(out, "keys"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], (list, tuple)):
        out = out[0]
    return [int(i) for i in out]


def chat_template_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """Ids of ``messages`` in the tokenizer's chat template, with the assistant prompt appended.

    Without a chat template, falls back to ``"role: content"`` lines followed by ``"assistant:"``.
    """
    msgs = [dict(m) for m in messages]
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        return _as_id_list(out)
    text = "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in msgs) + "assistant:"
    return _as_id_list(tokenizer(text, add_special_tokens=True)["input_ids"])


class LocalTokenizer:
    """Budget counting and chat-template ids with a backend's local tokenizer (a mixin).

    The in-process backend and the server backend count the same way: the class that mixes
    this in sets ``tokenizer``, ``counter`` (a :class:`~h2mt.counting.TokenCounter` sharing
    the lock) and ``_tok_lock`` (the Rust tokenizer is not safe under concurrent use).
    """

    tokenizer: Any
    counter: TokenCounter
    _tok_lock: threading.Lock

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text (no special tokens), one batch call."""
        return self.counter(texts)

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """``messages`` as ids of the local tokenizer's chat template, assistant prompt appended."""
        with self._tok_lock:
            return chat_template_ids(self.tokenizer, messages)
