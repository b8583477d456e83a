"""One loaded generator per configuration per process: a cache every component can share.

Two LangChain ``ChatH2MT`` instances, a LlamaIndex ``H2MTLLM`` and an ``H2MT`` engine that name
the same model would otherwise each load their own copy of the weights (issue 27, item 9:
three default chat models reached 6.9 GB). :func:`shared_backend` returns the one already
loaded for an equivalent :class:`~h2mt.config.BackendConfig` (same resolved model, device,
dtype, quantization, ...) and loads it otherwise; :func:`shared_tokenizer` does the same for
the tokenizer alone (taking a loaded backend's when there is one).

References are **weak**: the cache shares a model between the components that hold it, it
never owns one. When the last component holding a backend is gone, the weights are freed
as before; the next component loads them again. A strong cache would keep every model ever
named alive for the life of the process (a notebook that drops its chat model, or a test
suite that loads many small models, would never get the memory back), which is what a
process-wide cache must not add. Callers that want a private copy skip this module (the
integrations' ``share_model=False``).

Loading here is quiet: transformers' progress bars and the optional-kernel warnings that
bitsandbytes logs when it is first imported on a CPU ("Failed to load CPU gemm_4bit_forward")
are silenced for the duration of the load (:func:`quiet_loading`).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, replace
from typing import Any, TypeVar

from ..config import BackendConfig
from ..counting import TokenCounter
from .base import Backend

__all__ = ["backend_key", "quiet_loading", "shared_backend", "shared_counter", "shared_tokenizer",
           "SharedCache"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Loggers of optional accelerated kernels that warn at import when they are unavailable offline
# (bitsandbytes' CPU 4-bit kernel from the ``kernels`` hub package). h2mt never uses them on CPU.
_NOISY_LOGGERS = ("bitsandbytes", "kernels")
_QUIET_LOCK = threading.Lock()
_QUIET_DEPTH = 0
_SAVED_LEVELS: dict[str, int] = {}


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Inside the block: no transformers/hub progress bars, and the warnings of optional kernels
    (``bitsandbytes``, ``kernels`` loggers) below ERROR are dropped; both restored afterwards."""
    global _QUIET_DEPTH
    with _QUIET_LOCK:
        if _QUIET_DEPTH == 0:
            for name in _NOISY_LOGGERS:
                lg = logging.getLogger(name)
                _SAVED_LEVELS[name] = lg.level
                if lg.level < logging.ERROR:
                    lg.setLevel(logging.ERROR)
        _QUIET_DEPTH += 1
    try:
        try:
            from .quiet import quiet_progress_bars

            bars = quiet_progress_bars()
            bars.__enter__()
        except ImportError:  # no transformers: nothing prints bars
            bars = None
        try:
            yield
        finally:
            if bars is not None:
                bars.__exit__(None, None, None)
    finally:
        with _QUIET_LOCK:
            _QUIET_DEPTH -= 1
            if _QUIET_DEPTH == 0:
                for name, level in _SAVED_LEVELS.items():
                    logging.getLogger(name).setLevel(level)
                _SAVED_LEVELS.clear()


class SharedCache:
    """Objects by key, held weakly; each key is loaded once even when threads ask at the same time."""

    def __init__(self, what: str) -> None:
        self.what = what  # for log lines
        self._items: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The live object under ``key``, else None."""
        return self._items.get(key)

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The live object under ``key``, else ``load()`` (once per key at a time), remembered weakly."""
        found = self._items.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            found = self._items.get(key)
            if found is not None:
                return found  # type: ignore[no-any-return]
            obj = load()
            self.put(key, obj)
            return obj

    def put(self, key: Hashable, obj: Any) -> None:
        """Remember ``obj`` weakly under ``key`` (an object without weak references is shared by nobody)."""
        try:
            self._items[key] = obj
        except TypeError:
            log.debug("%s %r cannot be shared (no weak references)", self.what, key)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry (the objects live on in the components that hold them)."""
        self._items.clear()


_BACKENDS = SharedCache("backend")
_TOKENIZERS = SharedCache("tokenizer")


def _model_key(model: str | None) -> str:
    """What ``model`` names, normalised: the default preset for None ($H2MT_MODEL read now),
    a preset by its name, a path by its absolute path."""
    from .presets import default_model, get_preset

    name = model if model is not None else default_model()
    if os.path.exists(os.path.expanduser(name)):
        return os.path.realpath(os.path.expanduser(name))
    preset = get_preset(name)
    return f"preset:{preset.name}" if preset is not None else name


def backend_key(cfg: BackendConfig | None = None) -> tuple[Any, ...]:
    """The cache key of ``cfg``: every field, with ``model`` resolved (None, the default preset's
    name and its path are one key; a relative and an absolute path to one folder too)."""
    c = cfg if cfg is not None else BackendConfig()
    return astuple(replace(c, model=_model_key(c.model)))


def _tokenizer_key(cfg: BackendConfig) -> tuple[Any, ...]:
    if cfg.kind == "openai":  # a server's budgets count with its local tokenizer
        cfg = BackendConfig(model=cfg.tokenizer, cache_dir=cfg.cache_dir,
                            trust_remote_code=cfg.trust_remote_code)
    return (_model_key(cfg.model), cfg.gguf_file, cfg.cache_dir, cfg.trust_remote_code)


def shared_backend(cfg: BackendConfig | None = None) -> Backend:
    """The process's loaded generator for ``cfg`` (loaded quietly on first use, by
    :func:`h2mt.backends.load_backend`); components asking for an equivalent config get the same
    object while any of them holds it."""
    from . import load_backend

    c = cfg if cfg is not None else BackendConfig()

    def load() -> Backend:
        with quiet_loading():
            loaded = load_backend(c)
        if c.kind == "local":  # its tokenizer serves shared_tokenizer while the backend lives
            _TOKENIZERS.put(_tokenizer_key(c), loaded.tokenizer)
        return loaded

    backend: Backend = _BACKENDS.get_or_load(backend_key(c), load)
    return backend


def shared_tokenizer(cfg: BackendConfig | None = None) -> Any:
    """The generator's tokenizer for ``cfg``: a live shared backend's own tokenizer when one with
    the same model is loaded, else the tokenizer alone (no weights), shared the same way."""
    from . import load_tokenizer

    c = cfg if cfg is not None else BackendConfig()

    def load() -> Any:
        with quiet_loading():
            return load_tokenizer(c)

    return _TOKENIZERS.get_or_load(_tokenizer_key(c), load)


def shared_counter(cfg: BackendConfig | None = None) -> TokenCounter:
    """A :class:`~h2mt.counting.TokenCounter` over :func:`shared_tokenizer` (cheap to make)."""
    return TokenCounter(shared_tokenizer(cfg))
