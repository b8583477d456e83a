"""Pure decoding helpers: next-token choice, stop ids, incremental detokenization, stop strings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = ["IncrementalText", "choose_next_token", "collect_eos_ids", "only_tokens"]

_CHAT_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def collect_eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """Every id that ends a reply: tokenizer EOS, generation-config EOS (int or list), chat end tokens."""
    ids: set[int] = set()

    def add(value: Any) -> None:
        if value is None:
            return
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, Iterable):
            ids.update(int(v) for v in value if v is not None)

    add(getattr(tokenizer, "eos_token_id", None))
    gen_cfg = getattr(model, "generation_config", None)
    add(getattr(gen_cfg, "eos_token_id", None))
    add(getattr(getattr(model, "config", None), "eos_token_id", None))
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    for token in _CHAT_END_TOKENS:
        if token in vocab:
            ids.add(int(vocab[token]))
    return frozenset(ids)


def only_tokens(logits: torch.Tensor, allowed: Sequence[int]) -> torch.Tensor:
    """``logits`` (V,) with every id outside ``allowed`` set to -inf: the next token can only be one of them."""
    keep = torch.full_like(logits, float("-inf"))  # (V,)
    ids = torch.tensor(sorted(set(allowed)), dtype=torch.long, device=logits.device)  # (A,)
    keep[ids] = logits[ids]
    return keep


def without_tokens(logits: torch.Tensor, banned: Sequence[int]) -> torch.Tensor:
    """``logits`` (V,) with every id of ``banned`` set to -inf: the next token can be none of them."""
    out = logits.clone()  # (V,)
    out[torch.tensor(sorted(set(banned)), dtype=torch.long, device=logits.device)] = float("-inf")
    return out


def choose_next_token(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
    generated: Sequence[int] = (),
    repetition_penalty: float = 1.0,
) -> int:
    """Greedy argmax when ``temperature == 0``, else temperature + nucleus (top-p) sampling.

    ``logits`` is the 1-D (V,) score vector of the last position. Tokens in ``generated``
    are penalised as in CTRL (positive logits divided, negative multiplied by the penalty).
    """
    if repetition_penalty != 1.0 and generated:
        seen = torch.tensor(sorted(set(generated)), device=logits.device)
        picked = logits[seen]
        logits = logits.clone()
        logits[seen] = torch.where(picked > 0, picked / repetition_penalty, picked * repetition_penalty)
    if temperature <= 0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (V,)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)  # (V,), (V,)
        cumulative = torch.cumsum(sorted_probs, dim=-1)  # (V,)
        drop = (cumulative - sorted_probs) > top_p  # mass before this token already covers top_p
        drop[0] = False  # always keep the most likely token
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice].item())
    return int(torch.multinomial(probs, 1, generator=generator).item())


class IncrementalText:
    """Turn a growing list of token ids into text pieces, honouring stop strings.

    Decodes a sliding window (``prefix_offset``..end) so each step costs O(window), holds back
    a tail that ends in an incomplete UTF-8 sequence (``"\\ufffd"``), and holds back the last
    ``max(len(stop)) - 1`` characters so a stop string is never partly emitted.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self._tok = tokenizer
        self._stops = tuple(s for s in stop if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self.ids: list[int] = []
        self.text = ""  # decoded text so far (up to a stop string, if one was hit)
        self._emitted = 0  # characters of ``text`` already handed out
        self._prefix_offset = 0
        self._read_offset = 0
        self.stopped = False  # a stop string was found

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))

    def _new_text(self, final: bool) -> str:
        prefix = self._decode(self.ids[self._prefix_offset : self._read_offset])
        full = self._decode(self.ids[self._prefix_offset :])
        if len(full) > len(prefix) and (final or not full.endswith("\ufffd")):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self.ids)
            return full[len(prefix) :]
        return ""

    def _append(self, piece: str) -> None:
        before = len(self.text)
        self.text += piece
        cut = -1
        for stop in self._stops:
            idx = self.text.find(stop, max(0, before - len(stop) + 1))
            if idx >= 0 and (cut < 0 or idx < cut):
                cut = idx
        if cut >= 0:
            self.text = self.text[:cut]
            self.stopped = True

    def _take(self, final: bool) -> str:
        end = len(self.text) if (final or self.stopped) else max(self._emitted, len(self.text) - self._hold)
        out = self.text[self._emitted : end]
        self._emitted = end
        return out

    def push(self, token_id: int) -> str:
        """Add one generated id; return the text that is now safe to emit (may be empty)."""
        if self.stopped:
            return ""
        self.ids.append(int(token_id))
        piece = self._new_text(final=False)
        if piece:
            self._append(piece)
        return self._take(final=False)

    def finish(self) -> str:
        """Flush everything still held back (call once generation ended)."""
        if not self.stopped:
            piece = self._new_text(final=True)
            if piece:
                self._append(piece)
        return self._take(final=True)
