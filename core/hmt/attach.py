"""An HMT onto the loaded generator: which weights, and loading them onto the backend (once per
backend). Filling an index's memory arrays is the offline side's (:mod:`h2mt.index.memories`).

The HMT is loaded onto the generator the engine already holds (one copy of the weights); its
LoRA adapters, if any, are then active only for memory-prefill runs (the backend's text
forwards run with them off, see ``TransformersBackend.attach_memory``).
"""

from __future__ import annotations

import logging
import os
import weakref
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..config import MemoryConfig
from ..errors import ConfigError

__all__ = ["weights_path", "load_for_backend"]

log = logging.getLogger(__name__)

_ATTACHED: weakref.WeakKeyDictionary[Any, tuple[str, Any]] = weakref.WeakKeyDictionary()  # backend -> (folder, HMT)


def weights_path(cfg: MemoryConfig, index_meta: dict[str, Any] | None = None, backbone: Any = None) -> Path:
    """The HMT folder to use: ``cfg.weights``, else the one the index records (if it still
    exists), else the memory shipped for ``backbone`` (found by fingerprint; without a backbone,
    the one shipped for SmolLM2-135M)."""
    from .artifact import default_weights_path, shipped_weights_path

    if cfg.weights:
        return Path(cfg.weights)
    recorded = (index_meta or {}).get("hmt", {}).get("weights")
    if recorded and os.path.isdir(recorded):
        return Path(recorded)
    return default_weights_path() if backbone is None else shipped_weights_path(backbone)


def load_for_backend(backend: Any, path: str | os.PathLike[str]) -> Any:
    """An HMT over ``backend``'s loaded model with the weights in ``path`` (fingerprint-checked)."""
    from .artifact import load_hmt

    model = getattr(backend, "model", None)
    if model is None or not hasattr(backend, "attach_memory"):
        raise ConfigError(
            f"HMT memories need a local transformers generator; {getattr(backend, 'name', backend)!r} has no "
            "model weights here (a server?). Use the text prefill with it."
        )
    key = str(Path(path).resolve())
    attached = _ATTACHED.get(backend)
    if attached is not None and attached[0] == key:
        return attached[1]  # engines sharing a generator share its HMT (LoRA is injected once)
    if attached is not None:  # other weights: take the old adapters out first
        attached[1].release()
        backend.attach_memory(nullcontext)
        del _ATTACHED[backend]
    hmt = load_hmt(model, path)
    backend.attach_memory(hmt.adapters_disabled)
    _ATTACHED[backend] = (key, hmt)
    log.info("loaded HMT memory %s onto %s", path, getattr(backend, "name", "the generator"))
    return hmt
