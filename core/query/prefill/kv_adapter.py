"""The kv block-attention adapter: LoRA layers that are on only for the positions kv prefill runs at question time.

Kv prefill joins leaf caches computed each on its own after the shared prefix; the adapter
(trained by :mod:`h2mt.train.kv_adapter`, distilled from text mode) teaches the generator to read
such a cache. It is injected into the generator once (peft's ``inject_adapter_in_model``) and
stays **off** — the model is the bare generator for text prefill, leaf caches and every other
mode — except inside :func:`adapter_on`, which kv prefill holds while it prefills the question
suffix and decodes the answer.

Files: peft's format, ``adapter_config.json`` and ``adapter_model.safetensors``, plus
``h2mt_adapter.json`` (what it was trained on, for which generator, and the sha256 of its
tensors; the generator's fingerprint it was trained for). Shipped per preset under
``h2mt/query/prefill/weights/<model>/kv_adapter/`` and found by that fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError, ModelError

__all__ = ["ADAPTER_NAME", "WEIGHTS", "shipped_adapter", "resolve_adapter", "inject", "set_enabled", "adapter_on",
           "save_adapter", "load_adapter", "attached", "adapter_digest"]

ADAPTER_NAME = "h2mt-kv"
WEIGHTS = Path(__file__).parent / "weights"
_INFO = "h2mt_adapter.json"
_LOCK = threading.Lock()


def shipped_adapter(model: Any) -> Path | None:
    """The shipped adapter folder trained for this generator (matched by its fingerprint), or None."""
    from .kv_store import generator_fingerprint

    folders = sorted(WEIGHTS.glob("*/kv_adapter")) if WEIGHTS.is_dir() else []
    if not folders:
        return None
    fingerprint = generator_fingerprint(model)
    for folder in folders:
        try:
            info = json.loads((folder / _INFO).read_text())
        except (OSError, ValueError):
            continue
        if info.get("fingerprint") == fingerprint:
            return folder
    return None


def resolve_adapter(model: Any, setting: str) -> bool:
    """Load the adapter ``setting`` names (``off``, ``auto``: the shipped one if any, or a folder) into
    ``model`` once; True when kv prefill should switch it on. The caller holds the model's lock."""
    if setting == "off":
        return False
    if setting == "auto":
        if not hasattr(model, "_h2mt_kv_shipped"):  # the fingerprint hashes every parameter: once per model
            model._h2mt_kv_shipped = shipped_adapter(model)
        folder = model._h2mt_kv_shipped
    else:
        folder = Path(setting)
    if folder is None:
        return False
    if not folder.is_dir():
        raise ConfigError(f"KVConfig.adapter: {folder} is not a folder (off, auto or an adapter folder)")
    load_adapter(model, folder)
    return True


def _tuner_layers(model: Any) -> list[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def attached(model: Any) -> str | None:
    """The digest of the kv adapter injected into ``model``, or None."""
    return getattr(model, "_h2mt_kv_adapter", None)


def inject(model: Any, r: int, alpha: int, targets: tuple[str, ...]) -> list[Any]:
    """Inject fresh LoRA layers named :data:`ADAPTER_NAME` (B = 0: the model is unchanged) and return their
    parameters; the adapter is left **on** (training)."""
    from peft import LoraConfig, inject_adapter_in_model

    if attached(model) is not None or _tuner_layers(model):
        raise ConfigError("the generator already carries LoRA layers (an HMT memory or a kv adapter)")
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets), bias="none")
    inject_adapter_in_model(cfg, model, adapter_name=ADAPTER_NAME)
    model._h2mt_kv_adapter = "training"
    model._h2mt_kv_lora_config = cfg
    return [p for n, p in model.named_parameters() if "lora_" in n]


def set_enabled(model: Any, on: bool) -> None:
    """Switch every injected LoRA layer on or off."""
    for layer in _tuner_layers(model):
        layer.enable_adapters(on)


@contextmanager
def adapter_on(model: Any) -> Iterator[None]:
    """The kv adapter on for the forwards inside (the caller holds the model's lock); off again after."""
    if attached(model) is None:
        yield
        return
    set_enabled(model, True)
    try:
        yield
    finally:
        set_enabled(model, False)


def adapter_digest(state: dict[str, Any]) -> str:
    """sha256 over the adapter's tensors (sorted names, float32 bytes)."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_adapter(model: Any, folder: Path, info: dict[str, Any]) -> Path:
    """Write the injected adapter in peft's format (float16) plus ``h2mt_adapter.json`` (``info``, the
    generator's fingerprint and the digest)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME)
    state = {k: v.detach().to(device="cpu", dtype=torch.float16).contiguous() for k, v in state.items()}  # shipped
    cfg = model._h2mt_kv_lora_config
    save_file(state, str(folder / "adapter_model.safetensors"))
    cfg.save_pretrained(str(folder))
    from .kv_store import generator_fingerprint

    (folder / _INFO).write_text(json.dumps({**info, "fingerprint": generator_fingerprint(model),
                                            "sha256": adapter_digest(state)}, indent=1))
    return folder


def _read_digest(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / _INFO).read_text())["sha256"])
    except (OSError, ValueError, KeyError):
        return None


def load_adapter(model: Any, folder: str | Path) -> str:
    """Inject the adapter in ``folder`` into ``model`` (once; left **off**) and return its digest.
    ModelError when its files are damaged or it was trained for another generator."""
    from ...extras import require

    require("peft", "the kv block-attention adapter")
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .kv_store import generator_fingerprint

    folder = Path(folder)
    with _LOCK:
        loaded = attached(model)
        if loaded is not None:
            wanted = _read_digest(folder)
            if wanted is not None and wanted[:16] != loaded:
                raise ConfigError(f"kv adapter: another adapter ({loaded}) is loaded into this generator; "
                                  "one process serves one kv adapter")
            return loaded
        try:
            info = json.loads((folder / _INFO).read_text())
            state = load_file(str(folder / "adapter_model.safetensors"))
            cfg = LoraConfig.from_pretrained(str(folder))
        except (OSError, ValueError, SafetensorError) as exc:
            raise ModelError(f"kv adapter in {folder} cannot be read ({exc}); retrain it "
                             "(scripts/kv_adapter_train.py) or use KVConfig.adapter='off'") from exc
        digest = adapter_digest(state)
        if info.get("sha256") != digest:
            raise ModelError(f"kv adapter in {folder} fails its checksum; retrain or reinstall it")
        if info.get("fingerprint") != generator_fingerprint(model):
            raise ModelError(f"kv adapter in {folder} was trained for another generator "
                             f"({info.get('generator', '?')}); use KVConfig.adapter='off'")
        if _tuner_layers(model):
            raise ConfigError("kv adapter: the generator already carries LoRA layers (an HMT memory); "
                              "use KVConfig.adapter='off' with memory prefill loaded")
        dtype = model.get_input_embeddings().weight.dtype
        inject_adapter_in_model(cfg, model, adapter_name=ADAPTER_NAME)
        result = set_peft_model_state_dict(model, {k: v.to(dtype) for k, v in state.items()},
                                           adapter_name=ADAPTER_NAME)
        unexpected = list(getattr(result, "unexpected_keys", None) or [])
        if unexpected:
            raise ModelError(f"kv adapter in {folder} does not fit this generator: {unexpected[:3]}")
        set_enabled(model, False)
        model._h2mt_kv_adapter = digest[:16]
        model._h2mt_kv_lora_config = cfg
        return digest[:16]
