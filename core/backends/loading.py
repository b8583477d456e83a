"""Load decisions (device, dtype, quantization) and the actual model/tokenizer loads.

:func:`resolve_load_kwargs` is pure (no GPU needed) so every branch, the CUDA ones included,
is unit-testable on a CPU machine.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from ..config import BackendConfig
from ..errors import ConfigError, ModelError
from .fit import check_fits
from .oom import is_oom, oom_guard
from .resolve import ResolvedModel, resolve_model

__all__ = [
    "load_model",
    "load_tokenizer",
    "load_tokenizer_from",
    "resolve_device",
    "resolve_load_kwargs",
]

log = logging.getLogger(__name__)

_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")  # loadable without AutoConfig


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
            "pip install bitsandbytes (or set BackendConfig.quantization='none')."
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


def resolve_load_kwargs(cfg: BackendConfig, cuda_available: bool) -> dict[str, Any]:
    """Keyword arguments for ``AutoModelForCausalLM.from_pretrained`` decided from ``cfg``.

    Returns ``local_files_only``, ``trust_remote_code``, ``dtype`` (a torch dtype),
    ``device_map`` (``{"": device}``, so the model is never moved with ``.to()``),
    ``quantization_config`` (a ``BitsAndBytesConfig``, only for int8/nf4) and
    ``attn_implementation`` (only when set in ``cfg``).
    """
    import torch

    device = resolve_device(cfg, cuda_available)
    on_cuda = device.startswith("cuda")
    dtype = getattr(torch, _resolve_dtype_name(cfg, on_cuda))
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
    return kwargs


def _check_cuda_index(device: str) -> None:
    import torch

    if device.startswith("cuda:"):
        suffix = device.split(":", 1)[1]
        if not suffix.isdigit():
            raise ConfigError(
                f"BackendConfig.device={device!r} is not a valid device; use 'cuda:0', 'cuda' or 'cpu'."
            )
        if int(suffix) >= torch.cuda.device_count():
            raise ConfigError(
                f"BackendConfig.device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist."
            )


def _is_generic_fast_tokenizer(folder: Path) -> bool:
    """True when ``folder`` holds a plain ``tokenizer.json`` tokenizer (as our GGUF cache writes)."""
    config_file = folder / "tokenizer_config.json"
    if not (config_file.is_file() and (folder / "tokenizer.json").is_file()):
        return False
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("tokenizer_class") in _GENERIC_TOKENIZERS and "auto_map" not in data


def load_tokenizer_from(resolved: ResolvedModel, cfg: BackendConfig) -> Any:
    """The tokenizer of an already resolved (local) model folder.

    A generic fast tokenizer is loaded directly (no model config, no torch import: ~0.2 s);
    anything else goes through ``AutoTokenizer``.
    """
    try:
        if _is_generic_fast_tokenizer(resolved.path):
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(str(resolved.path), local_files_only=True)
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(
            str(resolved.path), local_files_only=True, trust_remote_code=cfg.trust_remote_code
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"Could not load the tokenizer of {resolved.path}: {exc}") from exc


def load_tokenizer(cfg: BackendConfig) -> Any:
    """The generator's tokenizer only (no weights); converts a GGUF model once if needed."""
    return load_tokenizer_from(resolve_model(cfg), cfg)


def load_model(resolved: ResolvedModel, cfg: BackendConfig) -> tuple[Any, str]:
    """Load the weights of ``resolved`` per ``cfg``; returns (model in eval mode, device)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = resolve_load_kwargs(cfg, torch.cuda.is_available())
    device = str(kwargs["device_map"][""])
    _check_cuda_index(device)
    quant = _resolve_quantization(cfg, device.startswith("cuda"))
    check_fits(Path(resolved.path), resolved.name, device, str(kwargs["dtype"]).replace("torch.", ""), quant)
    log.info("loading %s on %s (%s)", resolved.name, device, kwargs["dtype"])
    with oom_guard(f"loading {resolved.name}", device):
        try:
            model = AutoModelForCausalLM.from_pretrained(str(resolved.path), **kwargs)
        except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
            if is_oom(exc):
                raise
            raise ModelError(f"Could not load the model in {resolved.path}: {exc}") from exc
    model.eval()
    return model, device
