"""The leaf KV store: each leaf block's K/V, computed once after a shared prefix, kept on disk.

Layout beside the index (``bash.h2mt`` -> ``bash.h2mt.kv/``)::

    bash.h2mt.kv/
      <generator fp>-<prefix sha>/        one folder per generator and shared prefix
        meta.json                          version, generator, prefix, model shape, storage dtype
        <block sha>.safetensors            one leaf block: K and V of every layer, (L, H_kv, T, D)

An entry is keyed by the sha256 of its block's token ids (breadcrumb line and leaf text, in the
generator's tokenizer), so a changed leaf is a new key; the folder name keys the generator and the
prefix (system message and the opening of the user turn). Every file is written to a temporary
name and renamed; each entry carries the sha256 of its tensor bytes in its header and is checked
when read: a corrupted, truncated or foreign entry is never used (it is deleted and reported as a
miss, so lazy fill recomputes it). ``meta.json`` that disagrees with the generator's shape or the
storage dtype is refused in one line that says how to rebuild.

Storage: float16 (default), float32, or int8 with per-channel key scales (over the block's tokens)
and per-token value scales (over the head dimension). Reads touch the entry's mtime; with
``max_bytes`` set, the least recently used entries are evicted after each write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError

__all__ = ["STORE_VERSION", "KVShape", "BlockEntry", "KVStore", "block_key", "prefix_key", "generator_fingerprint",
           "store_path", "store_info", "remove_docs_under"]

log = logging.getLogger(__name__)

STORE_VERSION = 1
_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class KVShape:
    """What every cached K or V tensor is shaped by: (layers, KV heads, tokens, head dim)."""

    layers: int
    kv_heads: int
    head_dim: int

    @classmethod
    def of(cls, model: Any) -> KVShape:
        """The decoder's KV shape (GQA: the KV heads, not the query heads)."""
        config = model.config
        config = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim)

    def bytes_per_token(self, element_bytes: int = 2) -> int:
        """K and V of one token over every layer: 2 × layers × KV heads × head dim × element bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * element_bytes


@dataclass(frozen=True)
class BlockEntry:
    """One leaf block read from the store: keys and values (L, H_kv, T, D) and the bytes read."""

    keys: torch.Tensor  # (L, H_kv, T, D)
    values: torch.Tensor  # (L, H_kv, T, D)
    nbytes: int


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ids_bytes(ids: Sequence[int]) -> bytes:
    return torch.tensor(list(ids), dtype=torch.int64).numpy().tobytes()


def block_key(ids: Sequence[int]) -> str:
    """The store key of a block: sha256 of its token ids (32 hex digits)."""
    return _sha(_ids_bytes(ids))[:32]


def prefix_key(ids: Sequence[int]) -> str:
    """The key of a shared prefix: sha256 of its token ids (16 hex digits)."""
    return _sha(_ids_bytes(ids))[:16]


def generator_fingerprint(model: Any) -> str:
    """Identity of a generator's weights (16 hex digits): model type, sizes, and every parameter's
    name, shape and first 4,096 values in bfloat16 (float32 and bfloat16 loads of the same weights agree).
    Injected LoRA layers (:mod:`.kv_adapter`) are left out: the fingerprint is the bare generator's."""
    h = hashlib.sha256()
    h.update(str(getattr(model.config, "model_type", "")).encode())
    for name, p in model.named_parameters():
        if "lora_" in name:  # a kv adapter's LoRA layers (off while leaves are computed) are not the generator
            continue
        name = name.replace(".base_layer", "")
        flat = p.detach().reshape(-1)[:4096].to(device="cpu", dtype=torch.bfloat16)
        h.update(f"{name}:{tuple(p.shape)}".encode())
        h.update(flat.contiguous().view(torch.int16).numpy().tobytes())
    return h.hexdigest()[:16]


def store_path(index_path: str | os.PathLike[str]) -> Path:
    """The store folder beside an index file: ``<index>.kv``."""
    return Path(os.fspath(index_path) + ".kv")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(name.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _quantize(keys: torch.Tensor, values: torch.Tensor) -> dict[str, torch.Tensor]:
    """int8 K with per-channel scales over tokens, int8 V with per-token scales over the head dim."""
    k, v = keys.float(), values.float()  # (L, H, T, D)
    # scales rounded to their stored float16 first, so dequantisation uses exactly the scale divided by
    # (rounded up a little: |x| / scale stays within 127 after the rounding)
    k_scale = (k.abs().amax(dim=2, keepdim=True) / 126.0).clamp_min(1e-4).to(torch.float16).float()  # (L, H, 1, D)
    v_scale = (v.abs().amax(dim=3, keepdim=True) / 126.0).clamp_min(1e-4).to(torch.float16).float()  # (L, H, T, 1)
    return {
        "k": (k / k_scale).round().clamp(-127, 127).to(torch.int8),
        "k_scale": k_scale.to(torch.float16),
        "v": (v / v_scale).round().clamp(-127, 127).to(torch.int8),
        "v_scale": v_scale.to(torch.float16),
    }


def _dequantize(t: dict[str, torch.Tensor], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    if "k_scale" in t:
        keys = t["k"].float() * t["k_scale"].float()  # (L, H, T, D)
        values = t["v"].float() * t["v_scale"].float()
        return keys.to(dtype), values.to(dtype)
    return t["k"].to(dtype), t["v"].to(dtype)


def _header(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's bytes (an 8-byte little-endian length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def _file_header(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return _header(size.to_bytes(8, "little") + f.read(size))


class KVStore:
    """Leaf KV caches of one generator after one shared prefix (``root=None``: in memory only).

    ``get``/``put`` are safe across threads of one process; across processes every write is an
    atomic rename, so a reader sees a whole entry or none.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        *,
        generator: str,
        prefix_ids: Sequence[int],
        shape: KVShape,
        dtype: str = "float16",
        max_bytes: int | None = None,
    ) -> None:
        if dtype not in ("float16", "float32", "int8"):
            raise ConfigError(f"KV store dtype must be float16, float32 or int8, got {dtype!r}")
        self.generator = generator
        self.prefix = prefix_key(prefix_ids)
        self.prefix_tokens = len(prefix_ids)
        self.shape = shape
        self.dtype = dtype
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, Any]] = {}  # root=None: key -> tensors and header
        self.folder = Path(root) / f"{generator}-{self.prefix}" if root is not None else None
        if self.folder is not None:
            self._open_folder()

    # -- metadata ----------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "generator": self.generator,
            "prefix_sha256": self.prefix,
            "prefix_tokens": self.prefix_tokens,
            "layers": self.shape.layers,
            "kv_heads": self.shape.kv_heads,
            "head_dim": self.shape.head_dim,
            "dtype": self.dtype,
        }

    def _open_folder(self) -> None:
        assert self.folder is not None
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            _atomic_write_bytes(meta_path, json.dumps(self._meta(), indent=1).encode())
            return
        try:
            found = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"KV store {self.folder} has an unreadable meta.json ({e}); "
                              "rebuild it: h2mt kv build INDEX --rebuild") from None
        want = self._meta()
        diff = [k for k in want if found.get(k) != want[k]]
        if diff:
            k = diff[0]
            raise ConfigError(
                f"KV store {self.folder} was made with {k}={found.get(k)!r}, not {want[k]!r} (generator, prefix or "
                "storage settings changed); rebuild it: h2mt kv build INDEX --rebuild"
            )

    def clear(self) -> None:
        """Delete every entry of this generator and prefix (``--rebuild``)."""
        with self._lock:
            self._memory.clear()
            if self.folder is not None:
                for path in self.folder.glob(f"*{_SUFFIX}"):
                    path.unlink(missing_ok=True)
                _atomic_write_bytes(self.folder / "meta.json", json.dumps(self._meta(), indent=1).encode())

    # -- entries -----------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}{_SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return key in self._memory if self.folder is None else self._path(key).exists()

    def put(self, key: str, keys: torch.Tensor, values: torch.Tensor, doc: str = "") -> int:
        """Store a block's ``keys``/``values`` (L, H_kv, T, D); returns the entry's bytes.
        ``doc`` (the document's key in the index) lets :meth:`remove_docs` find it."""
        expected = (self.shape.layers, self.shape.kv_heads, keys.shape[2], self.shape.head_dim)
        if tuple(keys.shape) != expected or keys.shape != values.shape:
            raise ConfigError(f"KV block of shape {tuple(keys.shape)} does not fit the store's {expected}")
        keys, values = keys.detach().cpu(), values.detach().cpu()
        if self.dtype == "int8":
            tensors = _quantize(keys, values)
        else:
            dt = torch.float16 if self.dtype == "float16" else torch.float32
            tensors = {"k": keys.to(dt).contiguous(), "v": values.to(dt).contiguous()}
        header = {"version": str(STORE_VERSION), "generator": self.generator, "prefix": self.prefix, "key": key,
                  "tokens": str(keys.shape[2]), "doc": doc, "sha256": _tensor_digest(tensors)}
        if self.folder is None:
            with self._lock:
                self._memory[key] = {"tensors": tensors, "header": header}
            return sum(t.numel() * t.element_size() for t in tensors.values())
        from safetensors.torch import save

        data = save(tensors, metadata=header)
        with self._lock:
            _atomic_write_bytes(self._path(key), data)
        if self.max_bytes is not None:
            self.evict(self.max_bytes, keep={key})
        return len(data)

    def get(self, key: str, dtype: torch.dtype = torch.float32) -> BlockEntry | None:
        """The block stored under ``key`` as (L, H_kv, T, D) tensors of ``dtype``; ``None`` when it is
        missing, or corrupted or foreign (then it is deleted, with a warning)."""
        if self.folder is None:
            with self._lock:
                item = self._memory.get(key)
            if item is None:
                return None
            tensors = item["tensors"]
            k, v = _dequantize(tensors, dtype)
            return BlockEntry(k, v, sum(t.numel() * t.element_size() for t in tensors.values()))
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        problem = ""
        try:
            from safetensors.torch import load

            tensors = load(data)
            header = _header(data)
        except Exception as e:  # noqa: BLE001 - any decoding failure means a damaged file
            problem, tensors, header = f"unreadable ({type(e).__name__})", {}, {}
        if not problem:
            problem = self._check_entry(key, header, tensors)
        if problem:
            log.warning("KV store entry %s is %s; it is removed and recomputed", path.name, problem)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # least recently used = oldest mtime
        except OSError:
            pass
        k, v = _dequantize(tensors, dtype)
        return BlockEntry(k, v, len(data))

    def _check_entry(self, key: str, header: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
        if header.get("generator") != self.generator or header.get("prefix") != self.prefix:
            return "from another generator or prefix"
        if header.get("key") != key or header.get("version") != str(STORE_VERSION):
            return "foreign (wrong key or version)"
        if header.get("sha256") != _tensor_digest(tensors):
            return "corrupted (checksum mismatch)"
        k = tensors.get("k")
        if k is None or k.dim() != 4 or (k.shape[0], k.shape[1], k.shape[3]) != (
                self.shape.layers, self.shape.kv_heads, self.shape.head_dim):
            return "of the wrong shape"
        return ""

    # -- maintenance -------------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        return [] if self.folder is None else sorted(self.folder.glob(f"*{_SUFFIX}"))

    def drop(self, key: str) -> bool:
        """Delete the entry ``key``; whether there was one."""
        with self._lock:
            if self.folder is None:
                return self._memory.pop(key, None) is not None
            path = self._path(key)
            existed = path.exists()
            path.unlink(missing_ok=True)
            return existed

    def keys(self) -> list[str]:
        """Every stored key."""
        if self.folder is None:
            return sorted(self._memory)
        return [p.name[: -len(_SUFFIX)] for p in self._entries()]

    def evict(self, max_bytes: int, keep: Iterable[str] = ()) -> int:
        """Delete least recently used entries (never those in ``keep``) until the folder holds at
        most ``max_bytes``; returns how many were deleted."""
        pinned = set(keep)
        with self._lock:
            files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self._entries()]
            total = sum(size for _, size, _ in files)
            deleted = 0
            for _, size, path in sorted(files, key=lambda x: (x[0], x[2].name)):
                if total <= max_bytes:
                    break
                if path.name[: -len(_SUFFIX)] in pinned:
                    continue
                path.unlink(missing_ok=True)
                total -= size
                deleted += 1
        return deleted

    def _doc_of(self, path: Path) -> str:
        try:
            return _file_header(path).get("doc", "")
        except Exception:  # noqa: BLE001 - a damaged entry belongs to no document
            return ""

    def remove_docs(self, docs: Iterable[str]) -> int:
        """Delete the entries of the documents keyed ``docs``; returns how many were deleted."""
        gone = set(docs)
        deleted = 0
        with self._lock:
            if self.folder is None:
                for key in [k for k, item in self._memory.items() if item["header"].get("doc") in gone]:
                    del self._memory[key]
                    deleted += 1
                return deleted
            for path in self._entries():
                if self._doc_of(path) in gone:
                    path.unlink(missing_ok=True)
                    deleted += 1
        return deleted

    def prune(self, keep: Iterable[str]) -> int:
        """Delete every entry whose key is not in ``keep`` (leaves no longer in the index)."""
        wanted = set(keep)
        deleted = 0
        with self._lock:
            if self.folder is None:
                for key in [k for k in self._memory if k not in wanted]:
                    del self._memory[key]
                    deleted += 1
                return deleted
            for path in self._entries():
                if path.name[: -len(_SUFFIX)] not in wanted:
                    path.unlink(missing_ok=True)
                    deleted += 1
        return deleted

    def info(self) -> dict[str, Any]:
        """Entries, tokens and bytes of this generator and prefix, with the storage settings."""
        if self.folder is None:
            tokens = sum(int(item["header"]["tokens"]) for item in self._memory.values())
            nbytes = sum(sum(t.numel() * t.element_size() for t in item["tensors"].values())
                         for item in self._memory.values())
            entries = len(self._memory)
        else:
            files = self._entries()
            entries, nbytes = len(files), sum(p.stat().st_size for p in files)
            tokens = 0
            for p in files:
                try:
                    tokens += int(_file_header(p).get("tokens", 0))
                except Exception:  # noqa: BLE001 - a damaged entry counts no tokens
                    continue
        return {**self._meta(), "folder": str(self.folder) if self.folder else None, "entries": entries,
                "tokens": tokens, "bytes": nbytes, "bytes_per_token": nbytes / tokens if tokens else 0.0}


def store_info(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every generator/prefix folder under a store root: its meta.json plus entries and bytes on disk."""
    out: list[dict[str, Any]] = []
    base = Path(root)
    if not base.is_dir():
        return out
    for folder in sorted(p for p in base.iterdir() if (p / "meta.json").is_file()):
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            meta = {}
        files = list(folder.glob(f"*{_SUFFIX}"))
        out.append({**meta, "folder": str(folder), "entries": len(files),
                    "bytes": sum(p.stat().st_size for p in files)})
    return out


def remove_docs_under(root: str | os.PathLike[str], docs: Iterable[str]) -> int:
    """Delete the entries of the documents keyed ``docs`` in every generator/prefix folder under
    ``root`` (an index's documents changed or went); returns how many were deleted."""
    gone = set(docs)
    base = Path(root)
    if not gone or not base.is_dir():
        return 0
    deleted = 0
    for path in base.glob(f"*/*{_SUFFIX}"):
        try:
            doc = _file_header(path).get("doc", "")
        except Exception:  # noqa: BLE001 - a damaged entry is removed too: it can never be used
            doc = next(iter(gone))
        if doc in gone:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
