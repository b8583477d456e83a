"""Silence transformers' progress bars ("Loading weights") while h2mt loads a model.

The CLI shows its own progress; a tqdm bar per model load on every call is noise. The switch is
scoped: transformers' global setting is restored when the last concurrent load ends, and nothing
is changed at ``import h2mt``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet_progress_bars"]

_LOCK = threading.Lock()
_DEPTH = 0
_WAS_ENABLED = False


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Disable transformers' (and huggingface_hub's) tqdm bars inside the block, then restore them."""
    global _DEPTH, _WAS_ENABLED
    from transformers.utils import logging as hf_logging

    with _LOCK:
        if _DEPTH == 0:
            _WAS_ENABLED = hf_logging.is_progress_bar_enabled()
            if _WAS_ENABLED:
                hf_logging.disable_progress_bar()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _WAS_ENABLED:
                hf_logging.enable_progress_bar()
