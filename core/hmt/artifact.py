"""Save/load what an HMT trained (safetensors + JSON) and refuse a mismatched backbone.

Layout of a memory folder: ``hmt.safetensors`` holds only the trained tensors (memory
parameters, LoRA adapters, or the full weights for ``trainable="full"``); ``hmt.json`` holds
the :class:`~h2mt.hmt.config.HMTConfig`, the backbone fingerprint, the storage dtype and
free-form training metadata. Writes are atomic (temporary file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelError, ModelNotFoundError
from .config import HMTConfig

__all__ = [
    "load_backbone",
    "DEFAULT_WEIGHTS",
    "FORMAT",
    "FORMAT_VERSION",
    "backbone_fingerprint",
    "default_weights_path",
    "export_hmt",
    "load_default_hmt",
    "load_hmt",
    "read_meta",
    "save_hmt",
    "shipped_memories",
    "shipped_weights_path",
]

log = logging.getLogger(__name__)

FORMAT = "h2mt-hmt"
FORMAT_VERSION = 1
WEIGHTS_FILE = "hmt.safetensors"
META_FILE = "hmt.json"
DEFAULT_WEIGHTS = "smollm2-135m-instruct"  # folder under h2mt/hmt/weights/ of the shipped memory
HMT_MODEL = "smollm2-135m"  # the generator preset the shipped memory is trained for
_FINGERPRINT_KEYS = ("model_type", "hidden_size", "vocab_size", "num_hidden_layers", "embed_sha256")
_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # the shipped memories, one folder per generator


def _base_model(backbone: Any) -> Any:
    return backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone


def _backbone_sizes(backbone: Any) -> dict[str, Any]:
    """The cheap part of the fingerprint: model type and sizes (no hashing)."""
    base = _base_model(backbone)
    cfg = base.config
    return {
        "model_type": str(getattr(cfg, "model_type", "")),
        "hidden_size": int(cfg.hidden_size),
        "vocab_size": int(base.get_input_embeddings().weight.shape[0]),
        "num_hidden_layers": int(getattr(cfg, "num_hidden_layers", -1)),
    }


def backbone_fingerprint(backbone: Any) -> dict[str, Any]:
    """Identity of a backbone: model type, sizes and a hash of its input embedding.

    The embedding is hashed after rounding to bfloat16, so float32 and bfloat16 loads of the
    same weights have the same fingerprint.
    """
    import torch

    emb = _base_model(backbone).get_input_embeddings().weight.detach()
    raw = emb.to(device="cpu", dtype=torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
    return {**_backbone_sizes(backbone), "embed_sha256": hashlib.sha256(raw).hexdigest()}


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; shipped/shared files must be readable by all
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_hmt(
    hmt: Any, path: str | os.PathLike[str], storage_dtype: str = "float32", meta: dict[str, Any] | None = None
) -> Path:
    """Write the trained tensors of ``hmt`` and its config/fingerprint into folder ``path``."""
    import torch
    from safetensors.torch import save_file

    from .adapt import trained_state

    if storage_dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"storage_dtype must be float32, float16 or bfloat16, got {storage_dtype!r}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, storage_dtype)
    tensors = {k: v.detach().to(device="cpu", dtype=dtype).contiguous() for k, v in trained_state(hmt).items()}
    info = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": hmt.config.to_dict(),
        "fingerprint": backbone_fingerprint(hmt.backbone),
        "storage_dtype": storage_dtype,
        "tensors": sorted(tensors),
        "n_parameters": int(sum(t.numel() for t in tensors.values())),
        "meta": meta or {},
    }
    _atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    _atomic_write(out / META_FILE, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2), encoding="utf-8"))
    log.info("saved %d HMT tensors (%d parameters) to %s", len(tensors), info["n_parameters"], out)
    return out


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON side of a memory folder, checked for format and version."""
    folder = Path(path)
    meta_file = folder / META_FILE
    if not meta_file.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ModelNotFoundError(
            f"{folder} is not an HMT memory folder (needs {META_FILE} and {WEIGHTS_FILE}); "
            "train one with `h2mt hmt train` or use load_default_hmt()."
        )
    try:
        info: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {meta_file}: {exc}") from exc
    if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{meta_file} is format {info.get('format')!r} v{info.get('version')}, this h2mt reads "
            f"{FORMAT!r} v{FORMAT_VERSION}; retrain or use a matching h2mt version."
        )
    return info


def _check_fingerprint(expected: dict[str, Any], actual: dict[str, Any], folder: Path) -> None:
    diffs = [k for k in _FINGERPRINT_KEYS if expected.get(k) != actual.get(k)]
    if diffs:
        detail = ", ".join(f"{k}: memory {expected.get(k)!r} vs backbone {actual.get(k)!r}" for k in diffs)
        raise ModelError(
            f"the HMT memory in {folder} was trained for another backbone ({detail}); load the backbone it "
            "was trained on, or train a memory for this one with `h2mt hmt train --model ...`."
        )


def load_hmt(backbone: Any, path: str | os.PathLike[str], **overrides: Any) -> Any:
    """An :class:`~h2mt.hmt.model.HMT` over ``backbone`` with the tensors saved in ``path``.

    Refuses (``ModelError``) a backbone whose fingerprint differs from the one trained on.
    ``overrides`` replace inference-only config fields (e.g. ``cache_size``); the weights are cast
    to the backbone's device (memory parameters stay float32, others take the backbone dtype).
    """
    import torch
    from safetensors.torch import load_file

    from .model import HMT

    folder = Path(path)
    info = read_meta(folder)
    _check_fingerprint(info["fingerprint"], backbone_fingerprint(backbone), folder)
    cfg = HMTConfig.from_dict(info["config"])
    if overrides:
        cfg = cfg.replace(**overrides)
    hmt = HMT(backbone, cfg)
    params = dict(hmt.named_parameters(remove_duplicate=False))
    tensors = load_file(str(folder / WEIGHTS_FILE))
    missing = [k for k in tensors if k not in params]
    absent = [k for k in info.get("tensors", []) if k not in tensors]
    if missing or absent:
        raise ModelError(
            f"{folder / WEIGHTS_FILE} does not fit this backbone/config (unknown tensors {missing[:3]}, "
            f"missing {absent[:3]}); it may be truncated or from another model."
        )
    with torch.no_grad():
        for name, value in tensors.items():
            p = params[name]
            if tuple(p.shape) != tuple(value.shape):
                raise ModelError(f"tensor {name} has shape {tuple(value.shape)}, expected {tuple(p.shape)}")
            p.copy_(value.to(device=p.device, dtype=p.dtype))
    hmt.eval()
    return hmt


def default_weights_path() -> Path:
    """Folder of the memory shipped for SmolLM2-135M-Instruct (preset ``smollm2-135m``)."""
    return _WEIGHTS_DIR / DEFAULT_WEIGHTS


def shipped_memories() -> dict[Path, dict[str, Any]]:
    """Every memory shipped under ``h2mt/hmt/weights/``: folder -> the backbone fingerprint it
    was trained for (one per generator preset that has one)."""
    out: dict[Path, dict[str, Any]] = {}
    for folder in sorted(_WEIGHTS_DIR.iterdir()) if _WEIGHTS_DIR.is_dir() else []:
        if (folder / META_FILE).is_file() and (folder / WEIGHTS_FILE).is_file():
            out[folder] = dict(read_meta(folder)["fingerprint"])
    return out


def shipped_weights_path(backbone: Any) -> Path:
    """The shipped memory trained for ``backbone`` (matched by fingerprint: the same model type,
    sizes and input embedding), e.g. ``weights/qwen2.5-coder-0.5b-instruct`` for the default
    generator. Raises ``ConfigError`` when none was shipped for it."""
    shipped = shipped_memories()
    sizes = _backbone_sizes(backbone)
    candidates = [f for f, fp in shipped.items() if all(fp.get(k) == v for k, v in sizes.items())]
    if candidates:  # hash the embedding only when a shipped memory could fit
        digest = backbone_fingerprint(backbone)["embed_sha256"]
        for folder in candidates:
            if shipped[folder].get("embed_sha256") == digest:
                return folder
    names = ", ".join(f.name for f in shipped) or "none"
    raise ConfigError(
        f"no HMT memory is shipped for this generator ({sizes['model_type']}, hidden size {sizes['hidden_size']}, "
        f"{sizes['num_hidden_layers']} layers; shipped: {names}); train one with `h2mt hmt train --model ...` "
        "and pass it with --hmt-weights (MemoryConfig.weights), or use the text prefill."
    )


def load_default_hmt(backbone: Any | None = None, device: str = "auto", model: str = HMT_MODEL) -> tuple[Any, Any]:
    """``(hmt, tokenizer)``: a generator preset with the memory shipped for it.

    ``model`` is the preset (default ``smollm2-135m``, SmolLM2-135M-Instruct; also
    ``qwen2.5-coder-0.5b``, the default generator). ``backbone`` may be that model already
    loaded (its tokenizer is then loaded from the preset's folder too); otherwise it is loaded
    on ``device``. The memory is the shipped one whose fingerprint fits (:func:`shipped_weights_path`).
    """
    from ..backends.loading import load_model, load_tokenizer_from
    from ..backends.resolve import resolve_model
    from ..config import BackendConfig

    cfg = BackendConfig(model=model, device=device, quantization="none")
    resolved = resolve_model(cfg)
    if backbone is None:
        backbone, _ = load_model(resolved, cfg)
    tokenizer = load_tokenizer_from(resolved, cfg)
    return load_hmt(backbone, shipped_weights_path(backbone)), tokenizer


def export_hmt(src: str | os.PathLike[str], dst: str | os.PathLike[str], storage_dtype: str = "float16") -> Path:
    """Copy a memory folder with its tensors stored as ``storage_dtype`` (loading casts back)."""
    import torch
    from safetensors.torch import load_file, save_file

    if storage_dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"storage_dtype must be float32, float16 or bfloat16, got {storage_dtype!r}")
    info = read_meta(src)
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, storage_dtype)
    tensors = {k: v.to(dtype).contiguous() for k, v in load_file(str(Path(src) / WEIGHTS_FILE)).items()}
    info["storage_dtype"] = storage_dtype
    _atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    _atomic_write(out / META_FILE, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2), encoding="utf-8"))
    return out


def load_backbone(model: str | None, device: str, dtype: str) -> tuple[Any, Any, str]:
    """``(backbone, tokenizer, name)`` for ``--model`` (None = the embedded SmolLM2), unquantized."""
    from ..backends.loading import load_model, load_tokenizer_from
    from ..backends.resolve import resolve_model
    from ..config import BackendConfig

    cfg = BackendConfig(model=model, device=device, dtype=dtype, quantization="none")  # type: ignore[arg-type]
    resolved = resolve_model(cfg)
    backbone, _ = load_model(resolved, cfg)
    return backbone, load_tokenizer_from(resolved, cfg), resolved.name
