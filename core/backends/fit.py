"""Refuse, before loading, a model that cannot fit in the memory of its device.

On Linux an over-large CPU load is not a Python error: the kernel kills the process
or the machine starts swapping. Estimating the footprint first turns that into a clear
:class:`~h2mt.errors.ResourceError`. Set ``H2MT_SKIP_MEMORY_CHECK=1`` to bypass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ResourceError

if TYPE_CHECKING:
    from .plan import LoadPlan

__all__ = ["estimate_load_bytes", "available_bytes", "check_fits"]

_STORED = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
_TARGET = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "int8": 1.1, "nf4": 0.6}
_HEADROOM = 0.9  # leave 10% for activations, the KV cache and the allocator


def estimate_load_bytes(folder: Path, dtype: str, quantization: str) -> int:
    """Bytes the loaded weights will take: parameters from the files, times the target width."""
    files = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin")]
    raw = sum(p.stat().st_size for p in files)
    stored = 4
    cfg = folder / "config.json"
    if cfg.is_file():
        meta = json.loads(cfg.read_text(encoding="utf-8"))
        stored = _STORED.get(str(meta.get("torch_dtype") or meta.get("dtype") or "float32"), 4)
    width = _TARGET.get(quantization if quantization in ("int8", "nf4") else dtype, 4.0)
    return int(raw / stored * width)


def available_bytes(device: str) -> int | None:
    """Free memory of ``device`` (CPU: MemAvailable; CUDA: free device memory), or None if unknown."""
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        return int(torch.cuda.mem_get_info(index)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(folder: Path, name: str, plan: LoadPlan) -> None:
    """Raise :class:`ResourceError` if ``name`` (weights in ``folder``) clearly does not fit as ``plan`` loads it."""
    if os.environ.get("H2MT_SKIP_MEMORY_CHECK") == "1":
        return
    device, dtype, quantization = plan.device, plan.dtype, plan.quantization
    need = estimate_load_bytes(folder, dtype, quantization)
    free = available_bytes(device)
    if free is not None and need > _HEADROOM * free:
        gib = 2**30
        raise ResourceError(
            f"{name} needs about {need / gib:.1f} GiB on {device} ({dtype}, quantization={quantization}) "
            f"but only {free / gib:.1f} GiB is free: use quantization='nf4' or 'int8', a smaller model, "
            "or free memory (H2MT_SKIP_MEMORY_CHECK=1 skips this check)"
        )
