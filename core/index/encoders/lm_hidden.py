"""The generator's own mean-pooled last hidden states as the encoder (no second model)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .names import normalise_rows

log = logging.getLogger(__name__)

__all__ = ["LMHiddenStateEncoder"]


class LMHiddenStateEncoder:
    """Mean-pooled last hidden states of the generator itself (no second model)."""

    def __init__(self, backend: Any, *, batch_size: int = 16, max_tokens: int = 512) -> None:
        self.backend = backend
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.dim = int(backend.model.config.hidden_size)
        self.name = f"lm-hidden:{backend.name}"
        self.kind = "lm-hidden"
        self.model: str | None = None

    def meta(self) -> dict[str, Any]:
        """What the index records about this encoder (enough for :func:`load_encoder`)."""
        return {"name": self.name, "dim": self.dim, "kind": self.kind, "model": None}

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Mask-aware mean of the final hidden layer, normalised."""
        import numpy as np
        import torch

        tok = self.backend.tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        rows = []
        for i in range(0, len(texts), self.batch_size):
            batch = tok(list(texts[i : i + self.batch_size]), return_tensors="pt", padding=True,
                        truncation=True, max_length=self.max_tokens)
            batch = {k: v.to(self.backend.device) for k, v in batch.items()}
            with torch.inference_mode():
                out = self.backend.model.model(**batch)  # base model: (B, T, D) hidden states
            mask = batch["attention_mask"].unsqueeze(-1).to(out.last_hidden_state.dtype)  # (B, T, 1)
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
            rows.append(pooled.float().cpu().numpy())
        x = np.concatenate(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return normalise_rows(x)
