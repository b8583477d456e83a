"""The actual model/tokenizer loads, following a :class:`~h2mt.backends.plan.LoadPlan`.

The decisions (device, dtype, quantization) are made once by :func:`~h2mt.backends.plan.plan_load`
(re-exported here); the memory-fit check (:mod:`.fit`) runs before the weights are read.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..config import BackendConfig
from ..errors import ConfigError, ModelError
from .fit import check_fits
from .oom import is_oom, oom_guard
from .plan import LoadPlan, plan_load, resolve_device, resolve_load_kwargs
from .quiet import quiet_progress_bars
from .resolve import ResolvedModel, resolve_model

__all__ = [
    "LoadPlan",
    "plan_load",
    "load_model",
    "load_tokenizer",
    "load_tokenizer_from",
    "resolve_device",
    "resolve_load_kwargs",
]

log = logging.getLogger(__name__)

_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")  # loadable without AutoConfig


def _check_cuda_index(device: str) -> None:
    """A ``cuda:<n>`` device must exist on this machine."""
    import torch

    if device.startswith("cuda:") and int(device.split(":", 1)[1]) >= torch.cuda.device_count():
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


def load_model(resolved: ResolvedModel, cfg: BackendConfig, plan: LoadPlan | None = None) -> tuple[Any, str]:
    """Load the weights of ``resolved`` per ``plan``; returns (model in eval mode, device).

    ``plan`` defaults to ``plan_load(cfg, torch.cuda.is_available())``; pass the plan already
    made so the decisions are taken once.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if plan is None:
        plan = plan_load(cfg, torch.cuda.is_available())
    device = plan.device
    _check_cuda_index(device)
    check_fits(Path(resolved.path), resolved.name, plan)
    log.info("loading %s on %s (%s)", resolved.name, device, plan.kwargs["dtype"])
    with oom_guard(f"loading {resolved.name}", device), quiet_progress_bars():
        try:
            model = AutoModelForCausalLM.from_pretrained(str(resolved.path), **plan.kwargs)
        except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
            if is_oom(exc):
                raise
            raise ModelError(f"Could not load the model in {resolved.path}: {exc}") from exc
    model.eval()
    return model, device
