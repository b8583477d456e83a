"""Token counting and chat-prompt ids with any Hugging Face tokenizer (no torch needed)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..counting import TokenCounter, count_tokens

__all__ = ["LocalTokenizer", "chat_template_ids", "chat_template_split", "count_tokens"]


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


def chat_template_split(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], marker: str
) -> tuple[list[int], list[int]]:
    """Ids of ``messages`` in the chat template (assistant prompt appended) before and after ``marker``,
    which must occur exactly once in the templated text; each side is tokenized on its own.

    The template's text is tokenized as the template's own ids are (special-token strings map to
    their ids; a leading BOS where the tokenizer adds one and the template does not write it).
    """
    msgs = [dict(m) for m in messages]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        special = False
    else:
        text = "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in msgs) + "assistant:"
        special = True
    if not isinstance(text, str) or text.count(marker) != 1:
        raise ValueError(f"the marker {marker!r} must occur once in the templated messages")
    before, after = text.split(marker)
    head = _as_id_list(tokenizer(before, add_special_tokens=special)["input_ids"])
    tail = _as_id_list(tokenizer(after, add_special_tokens=False)["input_ids"])
    return head, tail


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

    def chat_split_ids(self, messages: Sequence[Mapping[str, str]], marker: str) -> tuple[list[int], list[int]]:
        """The chat-template ids of ``messages`` before and after ``marker`` (see :func:`chat_template_split`)."""
        with self._tok_lock:
            return chat_template_split(self.tokenizer, messages, marker)

    def encode(self, text: str) -> list[int]:
        """``text`` as token ids, no special tokens added."""
        with self._tok_lock:
            return _as_id_list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
