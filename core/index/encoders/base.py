"""Encoders that turn texts into L2-normalised embedding rows."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ...config import EncoderConfig
from ...errors import ConfigError, ModelError, ModelNotFoundError
from .names import DEFAULT_ENCODER_NAME, default_encoder_path, encoder_name, normalise_rows

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "LMHiddenStateEncoder",
    "DEFAULT_ENCODER_NAME",
    "default_encoder_path",
    "encoder_meta",
    "encoder_name",
    "load_encoder",
]

log = logging.getLogger(__name__)



@runtime_checkable
class Encoder(Protocol):
    """Maps texts to an (n, dim) float32 array of unit-norm rows."""

    name: str  # stored in the index; a query must use the same encoder
    dim: int
    kind: str  # EncoderConfig.kind that rebuilds this encoder ("custom" if none does)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` (batched); rows are L2-normalised."""
        ...




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




class SentenceTransformerEncoder:
    """sentence-transformers model (default: the embedded all-MiniLM-L6-v2), offline."""

    def __init__(self, model: str | None = None, *, batch_size: int = 16, device: str = "cpu") -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from ...extras import require

        SentenceTransformer = require("sentence_transformers", "The MiniLM encoder").SentenceTransformer
        path = model or default_encoder_path()
        try:
            self._model: Any = SentenceTransformer(path, device=device, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any load failure is a model error for the user
            raise ModelNotFoundError(f"Could not load the encoder from {path!r}: {e}") from e
        self.batch_size = batch_size
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.kind = "sentence-transformers"
        self.model = model
        self.name = encoder_name(EncoderConfig(model=model, backend="torch"))

    def meta(self) -> dict[str, Any]:
        """What the index records about this encoder (enough for :func:`load_encoder`)."""
        return {"name": self.name, "dim": self.dim, "kind": self.kind, "model": self.model}

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed in batches, longest texts first for less padding."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(x, dtype=np.float32)


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




def encoder_meta(encoder: Encoder) -> dict[str, Any]:
    """The encoder's own :meth:`meta`, or (a custom encoder) its name and dimension."""
    own = getattr(encoder, "meta", None)
    if callable(own):
        return dict(own())
    return {"name": encoder.name, "dim": encoder.dim, "kind": "custom", "model": None}



def load_encoder(spec: EncoderConfig | Mapping[str, Any], backend: Any = None) -> Encoder:
    """Build the encoder ``spec`` names: an :class:`EncoderConfig`, or the ``meta`` an index
    recorded (``lm-hidden`` needs a loaded backend; a custom encoder must be passed in)."""
    if isinstance(spec, Mapping):
        kind = spec.get("kind")
        if kind not in ("sentence-transformers", "hashing", "lm-hidden"):
            raise ConfigError(
                f"The index was built with a custom encoder ({spec.get('name')!r}); pass it as encoder="
            )
        cfg = EncoderConfig(kind=kind, model=spec.get("model"), hashing_dim=int(spec.get("dim") or 256),
                            backend=spec.get("backend") or "torch")  # indexes without "backend" are torch
    else:
        cfg = spec
    if cfg.kind == "hashing":
        return HashingEncoder(cfg.hashing_dim)
    if cfg.kind == "lm-hidden":
        if backend is None:
            raise ModelError("EncoderConfig(kind='lm-hidden') needs a loaded generator backend")
        return LMHiddenStateEncoder(backend, batch_size=max(1, cfg.batch_size // 4))
    if cfg.runtime != "torch":
        from .onnx import OnnxEncoder

        return OnnxEncoder(cfg.model, variant=cfg.runtime, batch_size=cfg.batch_size,
                           batch_tokens=cfg.batch_tokens, cache_dir=cfg.cache_dir)
    return SentenceTransformerEncoder(cfg.model, batch_size=cfg.batch_size, device=cfg.device)
