"""Process memory measurements: the peak resident set size, and "CUDA peak, else peak RSS".

``import`` needs no torch; :func:`peak_memory_bytes` imports it only for a CUDA device.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

__all__ = ["peak_rss_bytes", "peak_memory_bytes", "reset_peak_memory"]


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (``getrusage`` ``ru_maxrss``).

    Linux reports ``ru_maxrss`` in KiB, macOS in bytes; both are returned as bytes.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _is_cuda(device: Any) -> bool:
    return str(getattr(device, "type", device)).startswith("cuda")


def peak_memory_bytes(device: Any = "cpu") -> int:
    """The peak memory of the work on ``device`` (a ``torch.device`` or its name): CUDA's
    ``max_memory_allocated`` on a CUDA device, else this process's peak RSS."""
    if _is_cuda(device):
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    return peak_rss_bytes()


def reset_peak_memory(device: Any = "cpu") -> None:
    """Start a new CUDA peak on a CUDA ``device`` (peak RSS cannot be reset: nothing to do)."""
    if _is_cuda(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
