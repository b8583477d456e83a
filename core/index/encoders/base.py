"""The :class:`Encoder` protocol, an encoder's record in the index, and ``load_encoder``.

The runtimes live one per module (:mod:`.hashing`, :mod:`.sentence`, :mod:`.onnx`, :mod:`.lm_hidden`)
and are re-exported here."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ...config import EncoderConfig
from ...errors import ConfigError, ModelError
from .hashing import HashingEncoder  # the runtimes, one module each, re-exported for callers
from .lm_hidden import LMHiddenStateEncoder
from .names import DEFAULT_ENCODER_NAME, default_encoder_path, encoder_name
from .sentence import SentenceTransformerEncoder

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Encoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "LMHiddenStateEncoder",
    "DEFAULT_ENCODER_NAME",
    "default_encoder_path",
    "encoder_config",
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




def encoder_meta(encoder: Encoder) -> dict[str, Any]:
    """The encoder's own :meth:`meta`, or (a custom encoder) its name and dimension."""
    own = getattr(encoder, "meta", None)
    if callable(own):
        return dict(own())
    return {"name": encoder.name, "dim": encoder.dim, "kind": "custom", "model": None}



def encoder_config(spec: EncoderConfig | Mapping[str, Any]) -> EncoderConfig:
    """``spec`` as an :class:`EncoderConfig`: itself, or the config the ``meta`` an index recorded
    stands for (a custom encoder has none: :class:`ConfigError`, it must be passed in)."""
    if not isinstance(spec, Mapping):
        return spec
    kind = spec.get("kind")
    if kind not in ("sentence-transformers", "hashing", "lm-hidden"):
        raise ConfigError(
            f"The index was built with a custom encoder ({spec.get('name')!r}); pass it as encoder="
        )
    return EncoderConfig(kind=kind, model=spec.get("model"), hashing_dim=int(spec.get("dim") or 256),
                         backend=spec.get("backend") or "torch")  # indexes without "backend" are torch


def load_encoder(spec: EncoderConfig | Mapping[str, Any], backend: Any = None) -> Encoder:
    """Build the encoder ``spec`` names: an :class:`EncoderConfig`, or the ``meta`` an index
    recorded (``lm-hidden`` needs a loaded backend; a custom encoder must be passed in)."""
    cfg = encoder_config(spec)
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
