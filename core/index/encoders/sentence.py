"""The sentence-transformers encoder on torch (default model: the embedded all-MiniLM-L6-v2), offline."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...config import EncoderConfig
from ...errors import ModelNotFoundError
from .names import default_encoder_path, encoder_name

log = logging.getLogger(__name__)

__all__ = ["SentenceTransformerEncoder"]


class SentenceTransformerEncoder:
    """sentence-transformers model (default: the embedded all-MiniLM-L6-v2), offline."""

    def __init__(self, model: str | None = None, *, batch_size: int = 16, device: str = "cpu") -> None:

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
