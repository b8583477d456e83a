"""Which backbone weights an HMT trains: none (memory), LoRA adapters (peft) or all (full).

:func:`prepare_backbone` sets ``requires_grad`` (and injects LoRA layers for ``"lora"``);
:func:`trained_state` names exactly the tensors a checkpoint must hold for the mode.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from ..errors import ConfigError, ModelError
from .config import HMTConfig

__all__ = ["MEMORY_PARAMS", "is_lora_wrapped", "prepare_backbone", "trained_state"]

log = logging.getLogger(__name__)

MEMORY_PARAMS = ("summary_token", "init_memory", "w_q.weight", "w_k.weight")  # HMT's own parameters


def is_lora_wrapped(backbone: Any) -> bool:
    """True when ``backbone`` is a peft model (LoRA layers already injected)."""
    return hasattr(backbone, "peft_config") and hasattr(backbone, "disable_adapter")


def _apply_lora(backbone: Any, cfg: HMTConfig) -> Any:
    if importlib.util.find_spec("peft") is None:
        raise ModelError("HMTConfig.trainable='lora' needs peft: pip install peft (or use trainable='memory').")
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        bias="none",
    )
    try:
        return get_peft_model(backbone, lora)
    except ValueError as exc:
        raise ConfigError(
            f"HMTConfig.lora_targets={list(cfg.lora_targets)} do not match modules of this backbone ({exc}); "
            "use names of its linear layers, e.g. ('q_proj', 'v_proj') for Llama/Qwen2."
        ) from exc


def prepare_backbone(backbone: Any, cfg: HMTConfig) -> Any:
    """Return the backbone to run (LoRA-wrapped for ``"lora"``) with ``requires_grad`` set per mode."""
    if cfg.trainable == "lora":
        if not is_lora_wrapped(backbone):
            backbone = _apply_lora(backbone, cfg)
        for name, p in backbone.named_parameters():
            p.requires_grad_("lora_" in name)
        return backbone
    if is_lora_wrapped(backbone):
        raise ConfigError(
            f"HMTConfig.trainable={cfg.trainable!r} but the backbone already carries LoRA adapters; "
            "pass the plain Hugging Face model."
        )
    for p in backbone.parameters():
        p.requires_grad_(cfg.trainable == "full")
    return backbone


def trained_state(hmt: Any) -> dict[str, Any]:
    """``name -> tensor`` of everything the mode trains (what a checkpoint stores)."""
    mode = hmt.config.trainable
    out: dict[str, Any] = {}
    for name, p in hmt.named_parameters(remove_duplicate=True):
        if name in MEMORY_PARAMS or (mode == "lora" and "lora_" in name) or mode == "full":
            out[name] = p
    return out
