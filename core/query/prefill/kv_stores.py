"""The leaf KV stores of one engine: opened per (folder, prefix, storage) on the loaded generator,
filled for every leaf (``kv build``), pruned, and invalidated by document (``add`` / ``remove``).

The engine (:class:`h2mt.H2MT`) holds one :class:`KVStores` and delegates to it; the prompts of
every leaf it works on are the engine's (:meth:`h2mt.H2MT.prompt` in kv mode).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ...config import KVConfig
from ...errors import ConfigError
from ..prompt import Prompt
from .kv import KVPlan, fill_store
from .kv_store import KVShape, KVStore, block_key, generator_fingerprint, prefix_key, remove_docs_under

__all__ = ["KVStores"]


def _plans(prompts: Sequence[Prompt]) -> list[tuple[KVPlan, Any]]:
    out = []
    for p in prompts:
        if not isinstance(p.kv, KVPlan) or p.blocks is None:
            raise ConfigError("kv store: a prompt that was not made by the kv strategy")
        out.append((p.kv, p.blocks))
    return out


class KVStores:
    """Leaf KV stores on ``backend()``'s generator; ``root(kv)`` is the folder (``None``: in memory)."""

    def __init__(self, backend: Callable[[], Any], root: Callable[[KVConfig], str | None]) -> None:
        self._backend, self._root = backend, root
        self._stores: dict[tuple[Any, ...], KVStore] = {}
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def store(self, prefix_ids: Sequence[int], kv: KVConfig) -> KVStore:
        """The store of the prefix ``prefix_ids`` with ``kv``'s folder and storage settings."""
        backend = self._backend()
        model = getattr(backend, "model", None)
        if model is None:
            raise ConfigError(f"kv prefill needs the local generator; {backend.name} exposes no model")
        root = self._root(kv)
        key = (root, prefix_key(prefix_ids), kv.dtype, kv.max_bytes)
        with self._lock:
            if key not in self._stores:
                if self._fingerprint is None:
                    self._fingerprint = generator_fingerprint(model)
                self._stores[key] = KVStore(root, generator=self._fingerprint, prefix_ids=prefix_ids,
                                            shape=KVShape.of(model), dtype=kv.dtype, max_bytes=kv.max_bytes)
            return self._stores[key]

    def build(self, prompts: Sequence[Prompt], *, progress: bool = False, rebuild: bool = False) -> dict[str, Any]:
        """Store every block of ``prompts`` (kv prompts over every leaf, one per prefix) that is missing;
        ``rebuild`` clears each prefix's entries first. The last store's info, ``folders`` (each
        prefix's), ``computed`` and ``present``."""
        backend = self._backend()
        exclusive = getattr(backend, "exclusive", None)
        if exclusive is None:
            raise ConfigError(f"kv build needs the local generator; {backend.name} cannot run one")
        computed = present = 0
        infos: list[dict[str, Any]] = []
        for plan, blocks in _plans(prompts):
            if rebuild:
                plan.store.clear()
            with exclusive() as model:
                c, p = fill_store(model, plan.store, blocks.prefix, blocks.blocks, plan.docs, progress=progress)
            computed, present = computed + c, present + p
            infos.append(plan.store.info())
        return {**infos[-1], "folders": infos, "computed": computed, "present": present}

    def prune(self, prompts: Sequence[Prompt], max_bytes: int | None = None) -> dict[str, Any]:
        """Delete each prefix's entries that no block of ``prompts`` has, then least recently used ones
        down to ``max_bytes``; the deleted counts (``stale``, ``evicted``) and the stores' info."""
        stale = evicted = 0
        infos: list[dict[str, Any]] = []
        for plan, blocks in _plans(prompts):
            stale += plan.store.prune({block_key(b) for b in blocks.blocks})
            evicted += plan.store.evict(max_bytes) if max_bytes is not None else 0
            infos.append(plan.store.info())
        return {**infos[-1], "folders": infos, "stale": stale, "evicted": evicted}

    def forget(self, doc_keys: Sequence[str], default_root: str | None) -> int:
        """Delete the entries of these documents (replaced or removed) in every store opened here and
        every folder under ``default_root``; returns how many."""
        keys = [k for k in doc_keys if k]  # an old index record without a key has no entries to match
        if not keys:
            return 0
        deleted = 0
        with self._lock:
            roots = {str(r) for r in (default_root, *(k[0] for k in self._stores)) if r is not None}
            for store in self._stores.values():
                if store.folder is None:
                    deleted += store.remove_docs(keys)
        for root in roots:
            deleted += remove_docs_under(root, keys)
        return deleted
