"""One loaded encoder per configuration per process, shared by every component that asks.

The LangChain ``H2MTEmbeddings``, the runnable and compressor, the LlamaIndex ``H2MTEmbedding``
and node postprocessor all embed with the same default encoder; :func:`shared_encoder` loads
it once (quietly: no progress bars, no optional-kernel warnings) and hands the same object to
each of them. The cache holds encoders **weakly**, like :mod:`h2mt.backends.shared` (see there
why): it shares, it never keeps an encoder alive that no component holds.

``lm-hidden`` encoders are views of a loaded generator (no weights of their own): they are
made per call, on the backend given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import astuple, replace
from typing import Any

from ...backends.shared import SharedCache, quiet_loading
from ...config import EncoderConfig
from .base import Encoder, encoder_config, load_encoder

__all__ = ["encoder_key", "shared_encoder"]

_ENCODERS = SharedCache("encoder")


def encoder_key(spec: EncoderConfig | Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """The cache key of ``spec`` (a config or an index's encoder meta): every field, with the
    runtime resolved (``auto`` and what it stands for are one key) and a model path made absolute."""
    cfg = encoder_config(spec if spec is not None else EncoderConfig())
    model = cfg.model
    if model is not None and os.path.exists(os.path.expanduser(model)):
        model = os.path.realpath(os.path.expanduser(model))
    return astuple(replace(cfg, model=model, backend=cfg.runtime))


def shared_encoder(spec: EncoderConfig | Mapping[str, Any] | None = None, backend: Any = None) -> Encoder:
    """The process's loaded encoder for ``spec`` (an :class:`EncoderConfig` or the ``meta`` an
    index recorded; default: the embedded MiniLM), loaded quietly by
    :func:`~h2mt.index.encoders.base.load_encoder` on first use."""
    cfg = encoder_config(spec if spec is not None else EncoderConfig())
    if cfg.kind == "lm-hidden":  # a view of ``backend``: nothing to share
        return load_encoder(cfg, backend)

    def load() -> Encoder:
        with quiet_loading():
            return load_encoder(cfg, backend)

    encoder: Encoder = _ENCODERS.get_or_load(encoder_key(cfg), load)
    return encoder
