"""Benchmark methods that use HMT node memories (see docs/memory_prefill.md).

- ``h2mt-memory`` / ``h2mt-hybrid``: h2mt routing (the default beam), then memory-token prefill:
  every kept leaf is one soft token (its HMT memory) under its title, or — hybrid — the
  ``text_leaves`` best leaves stay text (``h2mt-hybrid``: 1, ``h2mt-hybridN``: N). Their
  selection (evidence recall) is h2mt's; in the generation worker they build their own prompt
  (:meth:`make_prompt`) with the soft tokens.
- ``h2mt-memory-titles`` / ``h2mt-hybrid-titles``: the ablation: the same prompt layout with
  the memory embeddings removed (title lines only), on the plain generator.
- ``h2mt-mwXX``: routing with HMT memory search fused at weight XX/100
  (``RouteConfig.memory_weight``), text prefill: its evidence recall sits next to ``h2mt-bK``.

Node memories are made once per document group, offline (not timed), when the cached index
has none: on the worker's generator for the prefill methods, on the configured generator for
memory routing; they are kept in the results' ``cache/`` (``hmt-*.npz``) for the other methods
and reruns.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import AnswerTask, MemoryConfig, PrefillConfig, RouteConfig
from ...query.prompt import Prompt
from .base import GroupView, MakeMessages, MethodBase, Selection, nodes_selection

if TYPE_CHECKING:
    from ...engine import H2MT

__all__ = ["MemoryPrefillMethod", "MemoryRouteMethod"]


def _index_digest(view: GroupView) -> str:
    """Identity of a built index's tree and texts (the memories depend on nothing else)."""
    h = hashlib.sha256()
    for n in view.index.nodes:
        heading = n.path[-1] if n.path else ""
        h.update(f"{n.parent}\x00{n.kind.value}\x00{n.title}\x00{heading}\x00{n.text}\x01".encode())
    return h.hexdigest()[:20]


class _MemoryEngines:
    """One engine with node memories per document group, all on one shared generator.

    With ``cache`` (a folder), made memories are kept there per (index, HMT weights, rule), so the
    other memory methods' workers and reruns do not make them again.
    """

    def __init__(self, weights: str | None, cache: str | None = None) -> None:
        self.weights, self.cache = weights, cache
        self.backend: Any = None
        self._current: tuple[GroupView, H2MT] | None = None  # one group at a time: earlier groups are done

    def _cache_file(self, view: GroupView, eng: H2MT) -> Path | None:
        if not self.cache:
            return None
        from ...index.memories import weights_hash

        m = eng.config.memory
        name = f"hmt-{_index_digest(view)}-{weights_hash(eng.hmt)}-{m.aggregate}-{m.dtype}.npz"
        return Path(self.cache) / name

    def _fill(self, view: GroupView, eng: H2MT) -> None:
        import numpy as np

        path = self._cache_file(view, eng)
        if path is not None and path.is_file():
            with np.load(path) as z:
                eng.index.hmt_memory, eng.index.hmt_summary = z["memory"], z["summary"]
            eng.index.meta["hmt"] = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            return
        eng.add_memories()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
            assert eng.index.hmt_memory is not None and eng.index.hmt_summary is not None
            np.savez(tmp, memory=eng.index.hmt_memory, summary=eng.index.hmt_summary)
            meta = json.dumps(eng.index.meta["hmt"], default=str)
            path.with_suffix(".json").write_text(meta, encoding="utf-8")
            os.replace(tmp, path)

    def get(self, view: GroupView, backend: Any | None = None) -> H2MT:
        """The memory engine of ``view`` (memories made on first use)."""
        from ...engine import H2MT

        if self._current is not None and self._current[0] is view:
            return self._current[1]
        self.backend = backend or self.backend or view.eng.backend
        cfg = replace(view.eng.config, memory=MemoryConfig(kind="hmt", weights=self.weights))
        eng = H2MT(view.index, cfg, encoder=view.eng.encoder, backend=self.backend)
        if not eng.index.has_memories:
            self._fill(view, eng)
        eng.memory_reader()  # checks (fingerprint, weights hash) once, outside any timing
        self._current = (view, eng)
        return eng


class MemoryPrefillMethod(MethodBase):
    """h2mt routing, then the kept leaves as memory embeddings (``memory``) or mostly so (``hybrid``)."""

    budgeted, needs_encoder = True, True

    def __init__(self, mode: str, weights: str | None = None, text_leaves: int = 1, cache: str | None = None,
                 titles_only: bool = False) -> None:
        self.mode, self.text_leaves, self.titles_only = mode, text_leaves, titles_only
        leaves = str(text_leaves) if mode == "hybrid" and text_leaves != 1 else ""
        self.name = f"h2mt-{mode}{leaves}" + ("-titles" if titles_only else "")
        self._engines = _MemoryEngines(weights, cache)

    def prepare(self, view: GroupView) -> None:
        """Nothing for selection (it is h2mt's routing)."""

    def prepare_generation(self, view: GroupView, backend: Any) -> None:
        """Make the group's node memories on the worker's generator (offline, before any timing)."""
        if not self.titles_only:
            self._engines.get(view, backend)

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """h2mt's coarse-to-fine route at the default beam; kept leaves in document order."""
        t0 = time.perf_counter()
        r = view.eng.route(question, budget=budget)
        return nodes_selection([k.node for k in r.kept], r.nodes_scored, t0, kept=r.kept)

    def make_prompt(self, view: GroupView, question: str, sel: Selection, make_messages: MakeMessages,
                    backend: Any) -> Prompt:
        """The benchmark's prompt (``make_messages``) with the kept leaves as soft tokens."""
        from ...query.prefill.memory import build_memory_prompt, build_titles_prompt

        cfg = PrefillConfig(task=AnswerTask.CHAT, mode=self.mode,  # type: ignore[arg-type]
                            text_leaves=self.text_leaves)
        if self.titles_only:
            return build_titles_prompt(question, sel.kept or [], cfg, backend.chat_ids, make_messages)
        eng = self._engines.get(view, backend)
        return build_memory_prompt(question, sel.kept or [], cfg, backend.chat_ids, eng.memory_reader(),
                                   make_messages)


class MemoryRouteMethod(MethodBase):
    """h2mt routing with HMT memory search at ``weight`` (text prefill)."""

    budgeted, needs_encoder = True, True

    def __init__(self, weight: float, weights: str | None = None, cache: str | None = None) -> None:
        self.weight = weight
        self.name = f"h2mt-mw{round(weight * 100)}"
        self._engines = _MemoryEngines(weights, cache)

    def prepare(self, view: GroupView) -> None:
        """Make the group's node memories (offline)."""
        self._engines.get(view)

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Route with the memory search fused in; kept leaves in document order."""
        eng = self._engines.get(view)
        t0 = time.perf_counter()
        r = eng.route(question, RouteConfig(budget=budget, memory_weight=self.weight))
        return nodes_selection([k.node for k in r.kept], r.nodes_scored, t0, kept=r.kept)
