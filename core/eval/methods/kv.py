"""The KV-reuse rows of the benchmark (docs/kv_cache.md): h2mt routing, then the blocks layout.

- ``h2mt-blocks``: text prefill of the blocks layout — every kept leaf its own block, the question
  after the context — the very token ids kv prefill reads from the store: the like-for-like text row.
- ``h2mt-kv``, ``h2mt-kv-fK``, ``h2mt-kv-rNN``, ``h2mt-kv-fK-rNN``: kv prefill (:mod:`h2mt.query.prefill.kv`)
  with EPIC recompute of the first K tokens of each block and/or CacheBlend recompute of NN% of the
  context tokens; ``-a``: with the block-attention adapter shipped for the generator
  (:mod:`h2mt.query.prefill.kv_adapter`) on for the question and answer; ``-cold`` appended: the
  kept leaves' caches are missing at question time and computed then (a cold store), otherwise they
  are stored before the question, untimed (a warm store, as after ``h2mt kv build``).

Every row routes with the default beam, so all of them keep the same leaves (``h2mt-b8``'s). The
store is kept in the results' ``cache/kv/`` (float16), shared by the kv rows and reruns.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import AnswerTask, KVConfig, PrefillConfig, PrefillMode
from ...query.prompt import Prompt, build_block_prompt
from ...types import Node, ScoredNode
from .base import GroupView, MakeMessages, MethodBase, Selection, nodes_selection

if TYPE_CHECKING:
    from ...query.prefill.kv_store import KVStore

__all__ = ["BlocksTextMethod", "KVPrefillMethod"]


def _group_digest(view: GroupView) -> str:
    h = hashlib.sha256()
    for n in view.leaves:
        h.update(f"{n.path}\x00{n.text}\x01".encode())
    return h.hexdigest()[:16]


class _Routed(MethodBase):
    """h2mt routing at the default beam (the kept leaves with their scores)."""

    budgeted, needs_encoder = True, True

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """h2mt's coarse-to-fine route; kept leaves in document order."""
        t0 = time.perf_counter()
        r = view.eng.route(question, budget=budget)
        return nodes_selection([k.node for k in r.kept], r.nodes_scored, t0, kept=r.kept)


def _kept(sel: Selection) -> list[ScoredNode]:
    return sel.kept if sel.kept is not None else [ScoredNode(n, 0.0) for n in (sel.nodes or [])]


class BlocksTextMethod(_Routed):
    """``h2mt-blocks``: text prefill of kv prefill's ids."""

    name = "h2mt-blocks"

    def make_prompt(self, view: GroupView, question: str, sel: Selection, make_messages: MakeMessages,
                    backend: Any) -> Prompt:
        """The benchmark's prompt (``make_messages``) in the blocks layout, every token prefilled."""
        cfg = PrefillConfig(task=AnswerTask.CHAT)
        return build_block_prompt(question, _kept(sel), cfg, backend.chat_split_ids, backend.encode,
                                  PrefillMode.TEXT, make_messages)


class KVPrefillMethod(_Routed):
    """``h2mt-kv[-fK][-rNN][-cold]``: kv prefill from the leaf KV store."""

    def __init__(self, first: int = 0, ratio: float = 0.0, cold: bool = False, cache: str | None = None,
                 adapter: str = "off") -> None:
        self.kv = KVConfig(recompute_first=first, recompute_ratio=ratio, adapter=adapter)
        self.cold = cold
        parts = ["h2mt-kv"] + ([f"f{first}"] if first else []) + ([f"r{round(ratio * 100)}"] if ratio else [])
        parts += ["a"] if adapter != "off" else []
        self.name = "-".join(parts) + ("-cold" if cold else "")
        self.cache = cache
        self._stores: dict[tuple[str, str], KVStore] = {}
        self._fingerprint: str | None = None

    def _store(self, view: GroupView, backend: Any, prefix: Sequence[int]) -> KVStore:
        from ...query.prefill.kv_store import KVShape, KVStore, generator_fingerprint, prefix_key

        key = (_group_digest(view), prefix_key(prefix))
        if key not in self._stores:
            if self._fingerprint is None:
                self._fingerprint = generator_fingerprint(backend.model)
            root = str(Path(self.cache) / "kv" / key[0]) if self.cache else None
            self._stores[key] = KVStore(root, generator=self._fingerprint, prefix_ids=prefix,
                                        shape=KVShape.of(backend.model), dtype=self.kv.dtype)
        return self._stores[key]

    def make_prompt(self, view: GroupView, question: str, sel: Selection, make_messages: MakeMessages,
                    backend: Any) -> Prompt:
        """The benchmark's prompt in the blocks layout, its blocks read from the group's store."""
        from ...query.prefill.kv import kv_prompt

        kept = _kept(sel)
        cfg = PrefillConfig(task=AnswerTask.CHAT, mode=PrefillMode.KV, kv=self.kv)
        docs = [_doc(view, k.node) for k in kept]
        return kv_prompt(question, kept, cfg, backend.chat_split_ids, backend.encode,
                         lambda prefix, _kv: self._store(view, backend, prefix), docs, make_messages)

    def warm(self, view: GroupView, question: str, budget: int, make_messages: MakeMessages, backend: Any) -> None:
        """Before the request, untimed: a warm store holds the kept leaves' caches (computed now if
        missing); a cold one (``-cold``) holds none of them."""
        from ...query.prefill.kv import fill_store
        from ...query.prefill.kv_store import block_key

        sel = self.select(view, question, budget)
        prompt = self.make_prompt(view, question, sel, make_messages, backend)
        blocks, plan = prompt.blocks, prompt.kv
        assert blocks is not None and plan is not None
        if self.kv.adapter == "auto":
            from ...errors import ConfigError
            from ...query.prefill.kv_adapter import shipped_adapter

            if shipped_adapter(backend.model) is None:
                raise ConfigError(f"{self.name}: no kv adapter is shipped for this generator "
                                  "(scripts/kv_adapter_train.py trains one)")
        if self.cold:
            for ids in blocks.blocks:
                plan.store.drop(block_key(ids))
            return
        with backend.exclusive() as model:
            fill_store(model, plan.store, blocks.prefix, blocks.blocks, plan.docs)


def _doc(view: GroupView, node: Node) -> str:
    docs = view.index.documents
    return str(docs[node.doc].get("key", "")) if node.doc < len(docs) else ""
