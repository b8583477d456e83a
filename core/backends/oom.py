"""Translate out-of-memory failures (CUDA or host) into :class:`h2mt.errors.ResourceError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ResourceError

__all__ = ["is_oom", "oom_guard"]

_OOM_HINT = (
    "try a smaller model, quantization='nf4' (on CUDA), a smaller context budget or fewer max_new_tokens"
)


def is_oom(exc: BaseException) -> bool:
    """True for ``MemoryError``, ``torch.cuda.OutOfMemoryError`` and "out of memory" RuntimeErrors."""
    if isinstance(exc, MemoryError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return True
    return "out of memory" in str(exc).lower()


@contextmanager
def oom_guard(what: str, device: str) -> Iterator[None]:
    """Turn out-of-memory errors raised inside the block into :class:`ResourceError`."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_oom(exc):
            raise
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        raise ResourceError(f"Out of memory while {what} on {device}: {_OOM_HINT}.") from exc
