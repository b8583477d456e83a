"""Save/load an :class:`~h2mt.index.index.Index` as one versioned, checksummed safetensors file.

Layout: numeric arrays (embeddings, the sparse lexical matrix, node columns, and the
optional HMT node memories ``hmt_memory`` / ``hmt_summary``) are tensors; titles, leaf
texts, documents and build metadata are JSON in the safetensors header. Writes are atomic
(temporary file + ``os.replace``), loading never re-encodes, and a truncated, corrupted or
version-mismatched file is refused.

An index without HMT memories is written as format version 1, exactly as before; one with
memories as version 2, whose header also lists the optional arrays it holds (``contents``).
Both versions are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError, IndexFileError, IndexVersionError
from ..types import Node, NodeKind
from .index import FORMAT_VERSION, MEMORY_FORMAT_VERSION, READABLE_VERSIONS, Index
from .lexical import LEXICAL_VERSION, LexicalIndex, node_lexical

__all__ = ["save_index", "load_index", "MAGIC"]

MAGIC = "h2mt-index"
_KINDS = list(NodeKind)


def _digest(tensors: dict[str, Any], meta: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].tobytes())
    for k in sorted(meta):
        h.update(k.encode())
        h.update(meta[k].encode())
    return h.hexdigest()


def _to_tensors(index: Index) -> dict[str, Any]:
    import numpy as np

    n = index.nodes
    m = index.lexical.matrix
    return {
        "embeddings": np.ascontiguousarray(index.embeddings, dtype=np.float32),
        "node_kind": np.array([_KINDS.index(x.kind) for x in n], dtype=np.int8),
        "node_parent": np.array([x.parent for x in n], dtype=np.int64),
        "node_doc": np.array([x.doc for x in n], dtype=np.int64),
        "node_span": np.array([[x.start, x.end] for x in n], dtype=np.int64).reshape(-1, 2),
        "node_tokens": np.array([x.tokens for x in n], dtype=np.int64),
        "lex_data": np.ascontiguousarray(m.data, dtype=np.float32),
        "lex_indices": np.ascontiguousarray(m.indices, dtype=np.int64),
        "lex_indptr": np.ascontiguousarray(m.indptr, dtype=np.int64),
        "lex_idf": np.ascontiguousarray(index.lexical.idf, dtype=np.float32),
        "lex_avg_len": np.ascontiguousarray(index.lexical.avg_len, dtype=np.float32),
        **_memory_tensors(index),
    }


_MEMORY_ARRAYS = ("hmt_memory", "hmt_summary")


def _memory_tensors(index: Index) -> dict[str, Any]:
    """The optional HMT arrays, kept in their stored dtype (float16 or float32)."""
    import numpy as np

    if not index.has_memories:
        return {}
    out = {name: np.ascontiguousarray(getattr(index, name)) for name in _MEMORY_ARRAYS}
    for name, a in out.items():
        if a.dtype not in (np.float16, np.float32) or a.shape[0] != len(index.nodes):
            raise IndexFileError(f"Index.{name} must be (N, d) float16/float32, got {a.dtype} {a.shape}")
    return out


def save_index(index: Index, path: str | os.PathLike[str]) -> Path:
    """Write ``index`` to ``path`` atomically; returns the path."""
    from safetensors.numpy import save_file

    path = Path(path)
    tensors = _to_tensors(index)
    meta = {
        "magic": MAGIC,
        "format_version": str(MEMORY_FORMAT_VERSION if index.has_memories else FORMAT_VERSION),
        "titles": json.dumps([x.title for x in index.nodes], ensure_ascii=False),
        "texts": json.dumps([x.text for x in index.nodes], ensure_ascii=False),
        "refs": json.dumps([x.ref for x in index.nodes], ensure_ascii=False),
        "vocab": json.dumps(list(index.lexical.vocab), ensure_ascii=False),
        "documents": json.dumps(index.documents, ensure_ascii=False),
        "meta": json.dumps(index.meta, ensure_ascii=False, default=str),
        "shape": json.dumps([len(index.nodes), int(index.lexical.matrix.shape[1])]),
    }
    if index.has_memories:
        meta["contents"] = json.dumps(sorted(_MEMORY_ARRAYS))
    meta["sha256"] = _digest(tensors, meta)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise IndexFileError(f"Cannot write the index: folder {parent} does not exist")
    _remove_stale_temps(parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise IndexFileError(f"Could not write the index to {path}: {e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Delete temporary files left by writers of ``name`` that were killed mid-write."""
    for f in folder.glob(f".{name}.*.tmp"):
        try:
            pid = int(f.name[len(name) + 2 :].split(".")[0])
            os.kill(pid, 0)  # raises if that writer no longer exists
        except ProcessLookupError:
            f.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


def _read(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise IndexFileError(f"No index at {path}: build one with `h2mt build SOURCE -o {path}`")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise IndexCorruptError(
            f"{path} is not a readable h2mt index (truncated or corrupted: {e}); rebuild it with `h2mt build`"
        ) from e
    if meta.get("magic") != MAGIC:
        raise IndexCorruptError(f"{path} is a safetensors file but not an h2mt index")
    if meta.get("format_version") not in {str(v) for v in READABLE_VERSIONS}:
        raise IndexVersionError(
            f"{path} has index format version {meta.get('format_version')}, this h2mt reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; rebuild the index with `h2mt build`"
        )
    want = meta.pop("sha256", "")
    if _digest(tensors, meta) != want:
        raise IndexCorruptError(f"{path} failed its checksum (the file is corrupted); rebuild it with `h2mt build`")
    return tensors, meta


def load_index(path: str | os.PathLike[str]) -> Index:
    """Read an index written by :func:`save_index` (no re-encoding)."""
    import scipy.sparse as sp

    t, meta = _read(Path(path))
    try:
        titles, texts = json.loads(meta["titles"]), json.loads(meta["texts"])
        vocab = {w: i for i, w in enumerate(json.loads(meta["vocab"]))}
        n_nodes, n_vocab = json.loads(meta["shape"])
        refs = json.loads(meta["refs"]) if "refs" in meta else [""] * len(titles)  # optional field
        nodes = _nodes(t, titles, texts, refs)
        matrix = sp.csr_matrix((t["lex_data"], t["lex_indices"], t["lex_indptr"]), shape=(n_nodes, n_vocab))
        lex = LexicalIndex(vocab, matrix, t["lex_idf"], t["lex_avg_len"])
        info = json.loads(meta["meta"])
        if info.get("lexical_version", 1) != LEXICAL_VERSION:  # another tokenizer: recount from the texts
            lex = node_lexical(nodes)
            info["lexical_version"] = LEXICAL_VERSION
        return Index(nodes, t["embeddings"], lex, json.loads(meta["documents"]), info,
                     t.get("hmt_memory"), t.get("hmt_summary"))
    except (KeyError, ValueError, IndexError) as e:
        raise IndexCorruptError(f"{path} is inconsistent ({e}); rebuild it with `h2mt build`") from e


def _nodes(t: dict[str, Any], titles: list[str], texts: list[str], refs: list[str]) -> list[Node]:
    """Rebuild nodes; children, depths and breadcrumb paths are derived from parents."""
    kinds, parents, docs = t["node_kind"].tolist(), t["node_parent"].tolist(), t["node_doc"].tolist()
    spans, tokens = t["node_span"].tolist(), t["node_tokens"].tolist()
    nodes: list[Node] = []
    for i, p in enumerate(parents):
        kind = _KINDS[kinds[i]]
        par = nodes[p] if p >= 0 else None
        if kind == NodeKind.DOCUMENT:
            path: tuple[str, ...] = (titles[i],)
        elif kind == NodeKind.SECTION and par is not None:
            path = (*par.path, titles[i])
        else:
            path = par.path if par is not None else ()
        node = Node(i, kind, titles[i], p, [], docs[i], spans[i][0], spans[i][1], tokens[i],
                    par.depth + 1 if par else 0, path, texts[i], refs[i])
        if par is not None:
            par.children.append(i)
        nodes.append(node)
    return nodes
