"""Local causal-LM backends: the ``Backend`` protocol, loading, default-model resolution.

Importing this package is cheap: torch and transformers are imported only when a model or
tokenizer is actually loaded (:func:`load_backend`, :func:`load_tokenizer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import BackendConfig
from ..counting import TokenCounter
from ..extras import require
from .base import Backend, GenerationStats

if TYPE_CHECKING:
    from .openai_backend import OpenAIBackend
    from .transformers_backend import TransformersBackend

__all__ = ["Backend", "GenerationStats", "load_backend", "load_counter", "load_tokenizer",
           "load_server_backend"]


def load_backend(cfg: BackendConfig | None = None) -> TransformersBackend:
    """Load the generator described by ``cfg`` (default: the embedded SmolLM2-135M-Instruct).

    GGUF models are converted to a Hugging Face folder once and cached; see
    :mod:`h2mt.backends.resolve`. Raises :class:`h2mt.errors.ModelNotFoundError`,
    :class:`~h2mt.errors.ModelError`, :class:`~h2mt.errors.ConfigError` or
    :class:`~h2mt.errors.ResourceError` with a message saying what to do.
    """
    if cfg is not None and cfg.kind == "openai":
        return load_server_backend(cfg)  # type: ignore[return-value]  # the same protocol, no weights
    require("torch", "Generation")
    require("transformers", "Generation")
    from .transformers_backend import load_backend as _load

    return _load(cfg if cfg is not None else BackendConfig())


def load_counter(cfg: BackendConfig | None = None) -> TokenCounter:
    """The :class:`~h2mt.counting.TokenCounter` of the generator ``cfg`` names (tokenizer only)."""
    return TokenCounter(load_tokenizer(cfg))


def load_tokenizer(cfg: BackendConfig | None = None) -> Any:
    """The generator's tokenizer only, without loading weights (fast once the cache exists)."""
    require("transformers", "Counting generator tokens")
    from .loading import load_tokenizer as _load

    if cfg is not None and cfg.kind == "openai":  # a server's tokens are counted by its local tokenizer
        cfg = BackendConfig(model=cfg.tokenizer, cache_dir=cfg.cache_dir, trust_remote_code=cfg.trust_remote_code)
    return _load(cfg if cfg is not None else BackendConfig())


def load_server_backend(cfg: BackendConfig) -> OpenAIBackend:
    """The OpenAI-compatible server backend of ``cfg`` (``kind="openai"``, ``base_url``, ``model``);
    budgets count with the local tokenizer ``cfg.tokenizer`` (default: the default generator's)."""
    from .openai_backend import OpenAIBackend

    return OpenAIBackend.from_config(cfg)
