"""Load decisions (device, dtype, quantization, ``from_pretrained`` kwargs), made once as a :class:`LoadPlan`.

:func:`plan_load` is pure (it looks at no GPU: whether CUDA is available is an argument), so
every branch, the CUDA ones included, is unit-testable on a CPU machine. The memory-fit check
(:mod:`.fit`) and the load itself (:mod:`.loading`) both consume the plan.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..config import BackendConfig
from ..errors import ConfigError, ModelError

__all__ = ["LoadPlan", "plan_load", "resolve_device", "resolve_load_kwargs"]


def resolve_device(cfg: BackendConfig, cuda_available: bool) -> str:
    """``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; CUDA asked without CUDA -> ConfigError."""
    device = cfg.device.strip().lower()
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise ConfigError(
            f"BackendConfig.device={cfg.device!r} but CUDA is not available (no GPU, or a CPU-only "
            "torch build). Use device='cpu' or 'auto', or install a CUDA build of torch."
        )
    return device


def _check_device_name(device: str) -> None:
    """A ``cuda:<n>`` device needs a numeric index (whether it exists is checked at load time)."""
    if device.startswith("cuda:") and not device.split(":", 1)[1].isdigit():
        raise ConfigError(f"BackendConfig.device={device!r} is not a valid device; use 'cuda:0', 'cuda' or 'cpu'.")


def _resolve_dtype_name(cfg: BackendConfig, on_cuda: bool) -> str:
    if cfg.dtype != "auto":
        return cfg.dtype
    return "bfloat16" if on_cuda else "float32"


def _resolve_quantization(cfg: BackendConfig, on_cuda: bool) -> str:
    if cfg.quantization != "auto":
        return cfg.quantization
    return "nf4" if on_cuda else "none"


def _bnb_config(quant: str, compute_dtype: Any) -> Any:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError(
            f"quantization={quant!r} needs bitsandbytes, which is not installed: "
            "pip install 'h2mt[quant]' (or set BackendConfig.quantization='none')."
        )
    from transformers import BitsAndBytesConfig

    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
    )


@dataclass(frozen=True)
class LoadPlan:
    """How a model is loaded, decided once from a :class:`BackendConfig` by :func:`plan_load`.

    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; ``dtype``: the torch dtype name
    (``"float32"``, ``"bfloat16"``, ``"float16"``); ``quantization``: ``"none"``, ``"int8"`` or
    ``"nf4"``; ``kwargs``: the keyword arguments of ``AutoModelForCausalLM.from_pretrained``
    (read-only; see :func:`plan_load`).
    """

    device: str
    dtype: str
    quantization: str
    kwargs: Mapping[str, Any]

    @property
    def on_cuda(self) -> bool:
        """Whether the model goes to a CUDA device."""
        return self.device.startswith("cuda")


def plan_load(cfg: BackendConfig, cuda_available: bool) -> LoadPlan:
    """Decide device, dtype, quantization and the ``from_pretrained`` kwargs from ``cfg``.

    ``device="auto"`` is CUDA when ``cuda_available`` else CPU; ``dtype="auto"`` is bfloat16 on
    CUDA, float32 on CPU; ``quantization="auto"`` is nf4 on CUDA, none on CPU. The kwargs are
    ``local_files_only`` (always True), ``trust_remote_code``, ``dtype`` (a torch dtype),
    ``device_map`` (``{"": device}``, so the model is never moved with ``.to()``),
    ``quantization_config`` (a ``BitsAndBytesConfig``, only for int8/nf4) and
    ``attn_implementation`` (only when set in ``cfg``).

    Raises :class:`ConfigError` for CUDA asked without CUDA or a malformed ``cuda:<n>``, and
    :class:`ModelError` for int8/nf4 without bitsandbytes. Whether a ``cuda:<n>`` index exists
    is checked by :func:`load_model`.
    """
    import torch

    device = resolve_device(cfg, cuda_available)
    _check_device_name(device)
    on_cuda = device.startswith("cuda")
    dtype_name = _resolve_dtype_name(cfg, on_cuda)
    dtype = getattr(torch, dtype_name)
    quant = _resolve_quantization(cfg, on_cuda)
    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": cfg.trust_remote_code,
        "dtype": dtype,
        "device_map": {"": device},
    }
    if quant in ("int8", "nf4"):
        kwargs["quantization_config"] = _bnb_config(quant, dtype)
    if cfg.attn_implementation is not None:
        kwargs["attn_implementation"] = cfg.attn_implementation
    return LoadPlan(device, dtype_name, quant, MappingProxyType(kwargs))


def resolve_load_kwargs(cfg: BackendConfig, cuda_available: bool) -> dict[str, Any]:
    """Keyword arguments for ``AutoModelForCausalLM.from_pretrained``: ``plan_load(...).kwargs`` as a dict."""
    return dict(plan_load(cfg, cuda_available).kwargs)
