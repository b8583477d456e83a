"""``H2MTNodePostprocessor``: route candidate nodes coarse-to-fine through a hierarchy under a budget."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Annotated, Any, Literal

from h2mt.aio import run_blocking
from h2mt.config import FusionMode, H2MTConfig, RouteConfig
from h2mt.counting import CountFn, truncate_to_tokens
from h2mt.engine import H2MT
from h2mt.errors import BudgetError, InputError
from h2mt.types import RouteResult
from llama_index.core.bridge.pydantic import Field, PrivateAttr, WithJsonSchema
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.storage.docstore.types import BaseDocumentStore

from ._convert import Leaves, to_leaves
from ._resources import (
    ENCODER_HELP,
    SHARE_MODEL_HELP,
    CachingEncoder,
    install_tokenizer,
    resolve_counter,
    resolve_encoder,
)
from .events import HierarchyBuildEvent, RoutingStartEvent, dispatcher, emit_routing_end

__all__ = ["H2MTNodePostprocessor"]

log = logging.getLogger(__name__)


class H2MTNodePostprocessor(BaseNodePostprocessor):
    """Keep the candidates h2mt routing selects within ``budget`` tokens: the original nodes, in
    document order, scored by routing. The hierarchy over the candidates (Markdown ``header_path``,
    ``PARENT`` chains, ``SOURCE`` documents) is cached by node ids and text hashes. ``encoder=`` also
    takes an h2mt Encoder; ``backend=``/``token_counter=`` replace the tokenizer counting tokens.

    A node routing kept as an excerpt (only its sentences matching the question fitted what was left
    of the budget) comes back as a copy holding the excerpt, with the same id and metadata. When every
    candidate is larger than ``budget`` (LlamaIndex's default ``chunk_size`` is 1024) a warning is
    logged, as LlamaIndex's own postprocessors degrade, and the best node's matching sentences are
    kept, else the best node truncated to the budget; use a chunk size below the budget."""

    budget: int = Field(1024, ge=1, description="Token budget of the kept nodes (generator tokens).")
    beam_width: int = Field(4, ge=1, description="Internal nodes kept per level of the coarse-to-fine beam.")
    fusion: Literal["dense", "lexical", "linear", "rrf"] = Field(
        "linear", description="Score fusion of dense (cosine) and lexical (BM25) evidence.")
    lexical_weight: float = Field(0.5, ge=0, le=1, description="Weight of BM25 in 'linear' fusion.")
    encoder: str = Field("default", description=f"Encoder of node memories: {ENCODER_HELP}.")
    model: str | None = Field(None, description="Generator (HF folder or GGUF) whose tokenizer counts "
                              "tokens; None = the default generator preset.")
    cache_size: int = Field(4, ge=0, description="Hierarchies kept in the LRU cache (by candidate set).")
    share_model: bool = Field(True, description=SHARE_MODEL_HELP)
    docstore: Annotated[BaseDocumentStore | None, WithJsonSchema({"type": "object"})] = Field(
        None, exclude=True, description="Where PARENT nodes not among the candidates are looked up; "
        "its insertion order is the document order when node offsets are ambiguous (index.docstore).")

    _encoder: Any = PrivateAttr(None)
    _counter: Any = PrivateAttr(None)
    _backend: Any = PrivateAttr(None)
    _rank: dict[str, int] = PrivateAttr(default_factory=dict)
    _cache: OrderedDict[str, H2MT] = PrivateAttr(default_factory=OrderedDict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, *, backend: Any = None, token_counter: CountFn | None = None, **data: Any) -> None:
        enc = data.get("encoder")
        if enc is not None and not isinstance(enc, str):
            data["encoder"] = enc.name
        if backend is not None:
            data.setdefault("model", backend.name)
        super().__init__(**data)
        self._backend = backend
        self._encoder = None if enc is None or isinstance(enc, str) else CachingEncoder(enc)
        self._counter, tokenizer = resolve_counter(self.model, backend, token_counter, self.share_model)
        install_tokenizer(tokenizer)

    @classmethod
    def class_name(cls) -> str:
        """Name in LlamaIndex serialisation."""
        return "H2MTNodePostprocessor"

    # ---- hierarchy -----------------------------------------------------------------------
    def _lookup(self, node_id: str) -> BaseNode | None:
        return self.docstore.get_node(node_id, raise_error=False) if self.docstore is not None else None

    def _leaves(self, nodes: list[NodeWithScore]) -> Leaves:
        if self.docstore is not None and any(n.node.node_id not in self._rank for n in nodes):
            self._rank = {nid: i for i, nid in enumerate(self.docstore.docs)}  # insertion = document order
        return to_leaves(nodes, self._lookup, self._rank or None)

    @staticmethod
    def _event(leaves: Leaves, eng: H2MT, t0: float | None) -> H2MT:
        ms = 0.0 if t0 is None else (time.perf_counter() - t0) * 1000.0
        dispatcher.event(HierarchyBuildEvent(leaves=len(leaves.inputs), nodes_total=len(eng.index.nodes),
                                             cached=t0 is None, build_ms=ms))
        return eng

    def _cached(self, leaves: Leaves) -> H2MT | None:
        with self._lock:
            eng = self._cache.get(leaves.key)
            if eng is not None:
                self._cache.move_to_end(leaves.key)
        return None if eng is None else self._event(leaves, eng, None)

    def _build(self, leaves: Leaves) -> H2MT:
        t0 = time.perf_counter()
        with self._lock:  # the encoder loads once
            if self._encoder is None:
                self._encoder = CachingEncoder(resolve_encoder(self.encoder, self._backend, self.share_model))
        eng = H2MT.from_leaves(leaves.inputs, H2MTConfig(), encoder=self._encoder, backend=self._backend,
                               token_counter=self._counter)
        with self._lock:
            self._cache[leaves.key] = eng
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return self._event(leaves, eng, t0)

    def hierarchy(self, nodes: list[NodeWithScore]) -> H2MT:
        """The h2mt engine (tree, embeddings) built over ``nodes``, from the cache when possible."""
        leaves = self._leaves(nodes)
        return self._cached(leaves) or self._build(leaves)

    # ---- routing -------------------------------------------------------------------------
    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[str, Leaves]:
        q = (query_bundle.query_str if query_bundle is not None else "") or ""
        if not q.strip():
            raise InputError("H2MTNodePostprocessor needs the query to route by: call "
                             "postprocess_nodes(nodes, query_str=...) or pass a QueryBundle")
        if nodes:
            dispatcher.event(RoutingStartEvent(query=q, nodes=len(nodes), budget=self.budget,
                                               beam_width=self.beam_width))
        return q, self._leaves(nodes)

    def _configure(self, eng: H2MT) -> H2MT:
        eng.config = replace(eng.config, route=RouteConfig(
            budget=self.budget, beam_width=self.beam_width, fusion=FusionMode(self.fusion),
            lexical_weight=self.lexical_weight))
        return eng

    def _route(self, eng: H2MT, q: str) -> tuple[RouteResult, bool]:
        """Route ``q``; when every candidate is larger than the budget, route over all of them
        instead (the caller keeps only the best, truncated). Returns (result, degraded)."""
        smallest = min(n.tokens for n in eng.index.leaves())
        if smallest > self.budget:
            log.warning(
                "every candidate node is larger than the token budget (%d; the smallest is %d tokens): keeping "
                "the sentences of the best nodes that match the question, else the best node truncated to the "
                "budget. Use a chunk size below the budget (e.g. Settings.chunk_size=%d) or raise the budget",
                self.budget, smallest, max(1, self.budget // 2))
        try:
            return eng.route(q), False
        except BudgetError:
            if smallest <= self.budget:
                raise
            return eng.route(q, budget=eng.index.tokens_total), True

    @staticmethod
    def _kept_node(leaves: Leaves, kept: Any) -> Any:
        """The original node of a kept leaf; for an excerpt (routing kept only its sentences matching
        the question) a copy holding the excerpt, with the same id and metadata."""
        original = leaves.originals[kept.ref].node
        if not getattr(kept, "excerpt", False):
            return original
        node = original.model_copy(deep=True)
        node.set_content(kept.text)
        return node

    def _finish(self, r: RouteResult, leaves: Leaves, degraded: bool = False) -> list[NodeWithScore]:
        if degraded:
            best = max(r.kept, key=lambda k: k.score)
            node = leaves.originals[best.node.ref].node.model_copy(deep=True)
            text = truncate_to_tokens(best.node.text, self.budget, self._counter)
            node.set_content(text)
            out = [NodeWithScore(node=node, score=float(best.score))]
            r = replace(r, kept=[best], budget=self.budget, tokens_kept=self._counter([text])[0])
        else:
            out = [NodeWithScore(node=self._kept_node(leaves, k.node), score=float(k.score)) for k in r.kept]
        emit_routing_end(r, [n.node.node_id for n in out])
        return out

    @dispatcher.span
    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        q, leaves = self._start(nodes, query_bundle)
        if not nodes:
            return []
        eng = self._configure(self._cached(leaves) or self._build(leaves))
        r, degraded = self._route(eng, q)
        return self._finish(r, leaves, degraded)

    @dispatcher.span
    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        q, leaves = self._start(nodes, query_bundle)
        if not nodes:
            return []
        eng = self._configure(self._cached(leaves) or await run_blocking(lambda: self._build(leaves)))
        r, degraded = await run_blocking(lambda: self._route(eng, q))
        return self._finish(r, leaves, degraded)
