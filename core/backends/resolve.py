"""Where the generator's weights come from: default model, GGUF conversion cache, HF folders.

GGUF files (the embedded SmolLM2-135M-Instruct or any user file) are converted to a plain
Hugging Face folder once and cached; later loads read the cached folder (well under a second).
Nothing is ever downloaded: every ``from_pretrained`` call passes ``local_files_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import BackendConfig
from ..errors import ConfigError, ModelError, ModelNotFoundError
from .oom import is_oom, oom_guard
from .presets import (
    DEFAULT_PRESET,
    PRESETS,
    Preset,
    default_model,
    get_preset,
    package_file,
    preset_gguf,
)
from .quiet import quiet_progress_bars

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ResolvedModel",
    "cache_root",
    "convert_gguf",
    "default_gguf_path",
    "gguf_cache_dir",
    "resolve_model",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = PRESETS[DEFAULT_PRESET].model_name  # what an unset BackendConfig.model loads
CACHE_ENV = "H2MT_CACHE_DIR"  # overrides the user cache dir when BackendConfig.cache_dir is None
_MARKER = "h2mt-converted.json"  # written last inside the temp dir: its presence means "complete"
_CACHE_FORMAT = 1  # bump to invalidate caches written by an older conversion
_HASH_HEAD_BYTES = 1 << 20  # bytes of the GGUF file hashed into the cache key
_BF16_ABOVE_BYTES = 1 << 30  # GGUF files larger than this are cached as bfloat16 (else float32)
_TMP_PREFIX = ".h2mt-tmp-"  # temp folders of conversions in progress (or interrupted)
_STALE_TMP_S = 24 * 3600  # leftover temp dirs from interrupted conversions older than this are removed


@dataclass(frozen=True)
class ResolvedModel:
    """A local Hugging Face folder ready for ``from_pretrained``."""

    path: Path  # folder with config.json + weights + tokenizer
    name: str  # human-readable model name for reports
    source: Literal["default", "preset", "gguf", "hf"]  # where it came from
    gguf_file: Path | None = None  # the original GGUF file, when converted


def default_gguf_path() -> Path:
    """The single-file GGUF of the ``smollm2-135m`` preset (the smallest embedded generator; a
    llama.cpp server can serve it as is), found without importing its package."""
    small = PRESETS["smollm2-135m"]
    return package_file(small.parts[0][0], small.parts[0][1], small)


def cache_root(cfg: BackendConfig) -> Path:
    """Folder holding converted models: ``cfg.cache_dir``, ``$H2MT_CACHE_DIR`` or the user cache."""
    if cfg.cache_dir is not None:
        raw = cfg.cache_dir
    elif os.environ.get(CACHE_ENV):
        raw = os.environ[CACHE_ENV]
    else:
        import platformdirs

        return Path(platformdirs.user_cache_dir("h2mt")) / "models"
    if "://" in raw:
        raise ConfigError(f"BackendConfig.cache_dir must be a local folder, got {raw!r}")
    return Path(raw).expanduser()


def _file_key(gguf: Path) -> str:
    """Short hash of size, mtime and the first MiB of the file (cheap, changes when the file does)."""
    st = gguf.stat()
    digest = hashlib.sha256(f"{_CACHE_FORMAT}:{st.st_size}:{st.st_mtime_ns}:".encode())
    with gguf.open("rb") as fh:
        digest.update(fh.read(_HASH_HEAD_BYTES))
    return digest.hexdigest()[:12]


def gguf_cache_dir(gguf: Path, cfg: BackendConfig) -> Path:
    """Cache folder of the converted ``gguf`` file: ``<cache root>/<stem>-<hash>``."""
    return cache_root(cfg) / f"{gguf.stem}-{_file_key(gguf)}"


def _is_complete(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and (folder / "config.json").is_file()


def _clean_stale_tmp(parent: Path) -> None:
    now = time.time()
    for tmp in parent.glob(f"{_TMP_PREFIX}*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue


def _convert_into(gguf: Path, dest: Path, trust_remote_code: bool) -> None:
    """Load ``gguf`` with transformers (dequantize) and save a plain HF folder into ``dest``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common = {"gguf_file": gguf.name, "local_files_only": True, "trust_remote_code": trust_remote_code}
    dtype = torch.bfloat16 if gguf.stat().st_size > _BF16_ABOVE_BYTES else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **common)
    with quiet_progress_bars():
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=dtype, **common)
    # A GGUF-loaded model refuses save_pretrained while it still carries its GGUF quantizer.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    log.debug("converted %s as %s", gguf.name, dtype)


def _write_marker(gguf: Path, dest: Path) -> None:
    info = {"source": str(gguf), "size": gguf.stat().st_size, "format": _CACHE_FORMAT, "time": time.time()}
    (dest / _MARKER).write_text(json.dumps(info, indent=1), encoding="utf-8")


def convert_gguf(gguf: Path, cfg: BackendConfig) -> Path:
    """Return the cached HF folder of ``gguf``, converting it first if needed (atomically)."""
    final = gguf_cache_dir(gguf, cfg)
    if _is_complete(final):
        return final
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model cache folder {parent}: {exc}. Set BackendConfig.cache_dir."
        ) from exc
    _clean_stale_tmp(parent)
    log.info("converting GGUF %s once; cached at %s", gguf, final)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{final.name}-", dir=parent))
    try:
        with oom_guard(f"converting {gguf.name}", "cpu"):
            try:
                _convert_into(gguf, tmp, cfg.trust_remote_code)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                if is_oom(exc):
                    raise
                raise ModelError(f"Could not convert the GGUF file {gguf}: {exc}") from exc
        _write_marker(gguf, tmp)  # last: only a fully written folder carries the marker
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        _publish(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - start)
    return final


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` folder to ``final``; a concurrent winner's complete copy is kept."""
    for _ in range(3):
        try:
            os.replace(tmp, final)
            return
        except OSError:
            if _is_complete(final):
                return  # another process finished first: use its copy
            shutil.rmtree(final, ignore_errors=True)  # incomplete leftover: replace it
    raise ModelError(f"Could not write the converted model to {final}; check permissions and disk space.")


def _resolve_path(cfg: BackendConfig, model: str) -> ResolvedModel:
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            f"Model {model!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor an existing path. Give a "
            "preset, a local Hugging Face model folder (with config.json), a .gguf file, or leave "
            "BackendConfig.model unset for the default."
        )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelNotFoundError(
                f"Model file {path} is not a .gguf file; give a .gguf file or a model folder."
            )
        return ResolvedModel(convert_gguf(path.resolve(), cfg), path.stem, "gguf", path.resolve())
    if cfg.gguf_file is not None:
        gguf = path / cfg.gguf_file
        if not gguf.is_file():
            raise ModelNotFoundError(f"GGUF file {cfg.gguf_file!r} not found in {path}.")
        return ResolvedModel(convert_gguf(gguf.resolve(), cfg), gguf.stem, "gguf", gguf.resolve())
    if (path / "config.json").is_file():
        return ResolvedModel(path, path.resolve().name, "hf")
    ggufs = sorted(path.glob("*.gguf"))
    hint = f" It holds {ggufs[0].name}: set BackendConfig.gguf_file." if ggufs else ""
    raise ModelNotFoundError(f"Folder {path} is not a Hugging Face model folder (no config.json).{hint}")


def _resolve_preset(cfg: BackendConfig, preset: Preset) -> ResolvedModel:
    gguf = preset_gguf(preset, cache_root(cfg), lambda f: _is_complete(gguf_cache_dir(f, cfg)))
    source: Literal["default", "preset"] = "default" if cfg.model is None else "preset"
    return ResolvedModel(convert_gguf(gguf, cfg), preset.model_name, source, gguf)


def resolve_model(cfg: BackendConfig) -> ResolvedModel:
    """Map ``cfg.model`` / ``cfg.gguf_file`` to a local HF folder, converting GGUF files once.

    ``None`` is the default preset; a preset name (``"smollm2-135m"``, ``"qwen2.5-coder-0.5b"``)
    is assembled and checked against its pinned SHA-256 before its one-time conversion."""
    if cfg.model is None and cfg.gguf_file is not None:
        raise ConfigError("BackendConfig.gguf_file needs BackendConfig.model (the folder holding it).")
    model = cfg.model if cfg.model is not None else default_model()
    preset = get_preset(model) if not os.path.exists(model) else None
    if preset is not None:
        return _resolve_preset(cfg, preset)
    return _resolve_path(cfg, model)
