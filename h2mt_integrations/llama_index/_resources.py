"""Shared model resources of the adapters: encoder, token counter, LlamaIndex's tokenizer."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from h2mt.backends.shared import quiet_loading
from h2mt.config import BackendConfig, EncoderConfig
from h2mt.index.encoders.base import DEFAULT_ENCODER_NAME, Encoder, load_encoder
from h2mt.index.encoders.shared import shared_encoder

if TYPE_CHECKING:
    import numpy as np
    from h2mt.counting import CountFn

__all__ = ["CachingEncoder", "SHARE_MODEL_HELP", "install_tokenizer", "resolve_counter", "resolve_encoder"]

log = logging.getLogger(__name__)

ENCODER_HELP = (
    "'default' = the embedded all-MiniLM-L6-v2, 'hashing' = deterministic model-free encoder, "
    "'lm-hidden' = the generator's hidden states, or a sentence-transformers model path"
)
SHARE_MODEL_HELP = (
    "Share loaded models (generator, tokenizer, encoder) with every h2mt component of this process that "
    "names the same configuration (one copy in memory, h2mt.backends.shared); False = private copies."
)


def install_tokenizer(tokenizer: Any, *, override: bool = False) -> bool:
    """Make ``tokenizer`` LlamaIndex's global ``Settings.tokenizer`` unless one is already set.

    LlamaIndex otherwise falls back to tiktoken, whose BPE file may be fetched from the internet;
    counting with the local model's own tokenizer keeps everything offline (and is more accurate).
    Returns whether it was installed.
    """
    import llama_index.core as li
    from llama_index.core import Settings

    if tokenizer is None or (li.global_tokenizer is not None and not override):
        return False
    Settings.tokenizer = tokenizer  # a HF tokenizer becomes partial(encode, add_special_tokens=False)
    log.debug("LlamaIndex Settings.tokenizer set to %s", getattr(tokenizer, "name_or_path", tokenizer))
    return True


def resolve_encoder(spec: str, backend: Any = None, share: bool = True) -> Encoder:
    """Load the encoder named by ``spec`` (see ``ENCODER_HELP``): the process's shared one, or
    (``share`` False) a private copy; quietly either way."""
    if spec in ("", "default"):
        cfg = EncoderConfig()
    elif spec == DEFAULT_ENCODER_NAME:  # that name is the torch runtime's
        cfg = EncoderConfig(backend="torch")
    elif spec in ("hashing", "lm-hidden"):
        cfg = EncoderConfig(kind=spec)  # type: ignore[arg-type]
    else:
        cfg = EncoderConfig(model=spec)
    if share:
        return shared_encoder(cfg, backend)
    with quiet_loading():
        return load_encoder(cfg, backend)


def resolve_counter(
    model: str | None, backend: Any, given: CountFn | None, share: bool = True
) -> tuple[CountFn, Any]:
    """(token counter, the model tokenizer or None): the given counter, the backend's, or the model's
    (its tokenizer shared with the process's other components unless ``share`` is False)."""
    if given is not None:
        return given, None
    from h2mt.backends import load_counter
    from h2mt.backends.shared import shared_counter
    from h2mt.counting import TokenCounter

    if backend is not None:
        counter = TokenCounter.for_backend(backend)
    else:
        counter = (shared_counter if share else load_counter)(BackendConfig(model=model))
    return counter, counter.tokenizer


class CachingEncoder:
    """An :class:`h2mt.index.encoders.base.Encoder` that remembers rows by text (bounded, oldest out first),
    so hierarchies rebuilt over overlapping candidate sets only encode the texts they have not seen."""

    def __init__(self, inner: Encoder, max_items: int = 100_000) -> None:
        self.inner = inner
        self.name, self.dim, self.kind = inner.name, inner.dim, inner.kind
        self.model = getattr(inner, "model", None)
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Rows of ``texts``; only unseen texts reach the wrapped encoder (one batch)."""
        import numpy as np

        with self._lock:
            found = {t: self._rows[t] for t in texts if t in self._rows}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            rows = self.inner.encode(missing, progress=progress)
            found.update(zip(missing, rows, strict=True))
            with self._lock:
                self._rows.update(zip(missing, rows, strict=True))
                while len(self._rows) > self._max:
                    self._rows.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32)
