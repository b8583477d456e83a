"""Deterministic bag-of-words feature-hashing encoder: tests, and a model-free fallback."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .names import normalise_rows

log = logging.getLogger(__name__)

__all__ = ["HashingEncoder"]


class HashingEncoder:
    """Deterministic bag-of-words feature-hashing encoder (tests, and a model-free fallback).

    Similar texts share words, so they get similar vectors; no weights are needed.
    """

    _WORD = re.compile(r"[a-z0-9]+")

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"
        self.kind = "hashing"
        self.model: str | None = None

    def meta(self) -> dict[str, Any]:
        """What the index records about this encoder (enough for :func:`load_encoder`)."""
        return {"name": self.name, "dim": self.dim, "kind": self.kind, "model": None}

    def _row(self, text: str) -> list[tuple[int, float]]:
        out = []
        for w in self._WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            out.append((h % self.dim, 1.0 if (h >> 32) & 1 else -1.0))
        return out

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed each text as a signed hashed word count, normalised."""
        import numpy as np

        x = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for j, v in self._row(t):
                x[i, j] += v
            if not x[i].any():
                x[i, 0] = 1e-6  # empty text: a tiny fixed vector, not NaN
        return normalise_rows(x)
