"""``H2MTQueryEngine``: route through an h2mt hierarchy and answer with one pruned prefill."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from h2mt.config import H2MTConfig
from h2mt.counting import CountFn
from h2mt.engine import H2MT
from h2mt.errors import InputError
from h2mt.index.encoders.base import Encoder
from h2mt.types import NodeKind, RouteResult
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import (
    BaseNode,
    Document,
    NodeWithScore,
    QueryBundle,
)

from ._convert import to_leaves
from ._generate import AnswerRun
from ._nodes import NodeTable, parsed_document
from ._resources import resolve_encoder
from .events import RoutingStartEvent, dispatcher, emit_routing_end
from .llm import H2MTLLM

__all__ = ["H2MTQueryEngine"]


class H2MTQueryEngine(BaseQueryEngine):
    """Answers from the leaves h2mt routing keeps within ``budget`` tokens.

    ``query``/``aquery`` return a ``Response`` (``StreamingResponse``/``AsyncStreamingResponse``
    with ``streaming=True``) whose ``source_nodes`` are the kept nodes in document order and
    whose ``metadata`` is the accounting (tokens total/kept, route/prefill/TTFT ms; filled when a
    stream ends). Without ``llm`` (or with an :class:`H2MTLLM`) generation is one prefill on the
    local model; any other LlamaIndex LLM receives the same chat messages. ``prefill``
    (``"memory"``/``"hybrid"``, index built with HMT memories) gives the kept leaves to the local
    model as memory embeddings instead (docs/memory_prefill.md).
    """

    def __init__(
        self, engine: H2MT, *, llm: LLM | None = None, budget: int | None = None, beam_width: int | None = None,
        streaming: bool = False, nodes: Mapping[str, BaseNode] | None = None,
        documents: Mapping[str, Mapping[str, Any]] | None = None, callback_manager: CallbackManager | None = None,
        prefill: str | None = None,
    ) -> None:
        super().__init__(callback_manager)
        self.engine, self.llm, self.streaming = engine, llm, streaming
        self.prefill = prefill  # text | memory | hybrid; None = the engine's PrefillConfig.mode
        self.budget, self.beam_width = budget, beam_width
        self._nodes = NodeTable(engine.index, nodes, documents)
        self._n_leaves = sum(n.kind == NodeKind.LEAF for n in engine.index.nodes)

    @classmethod
    def from_documents(
        cls, documents: Sequence[Document], config: H2MTConfig | None = None, *, node_parser: NodeParser | None = None,
        llm: LLM | None = None, encoder: Encoder | str | None = None, backend: Any = None,
        token_counter: CountFn | None = None, **kwargs: Any,
    ) -> H2MTQueryEngine:
        """Build over ``documents``: h2mt's own parsing and chunking (Markdown/HTML/text by file name),
        or the nodes of ``node_parser`` (each node one leaf, structured as the postprocessor does)."""
        if backend is None and isinstance(llm, H2MTLLM):
            backend = llm.backend
        enc = resolve_encoder(encoder, backend) if isinstance(encoder, str) else encoder
        kw: dict[str, Any] = {"encoder": enc, "backend": backend, "token_counter": token_counter}
        metas = {d.doc_id: dict(d.metadata) for d in documents}
        if node_parser is None:
            eng = H2MT.build([parsed_document(d) for d in documents], config, **kw)
            return cls(eng, llm=llm, documents=metas, **kwargs)
        leaves = to_leaves([NodeWithScore(node=n) for n in node_parser.get_nodes_from_documents(documents)])
        eng = H2MT.from_leaves(leaves.inputs, config, **kw)
        return cls(eng, llm=llm, documents=metas, nodes={k: v.node for k, v in leaves.originals.items()}, **kwargs)

    @classmethod
    def from_index(
        cls, path: str | os.PathLike[str], config: H2MTConfig | None = None, *, llm: LLM | None = None,
        encoder: Encoder | None = None, backend: Any = None, **kwargs: Any,
    ) -> H2MTQueryEngine:
        """Load a saved h2mt index (``h2mt build ... -o file``); nothing is re-encoded."""
        if backend is None and isinstance(llm, H2MTLLM):
            backend = llm.backend
        return cls(H2MT.load(path, config, encoder=encoder, backend=backend), llm=llm, **kwargs)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    # ---- routing -------------------------------------------------------------------------
    def _start(self, query: QueryBundle | str) -> str:
        q = query if isinstance(query, str) else query.query_str
        if not q or not q.strip():
            raise InputError("The query is empty: ask something about the indexed documents")
        cfg = self.engine.config.route
        dispatcher.event(RoutingStartEvent(query=q, nodes=self._n_leaves, budget=self.budget or cfg.budget,
                                           beam_width=self.beam_width or cfg.beam_width))
        return q

    def _sources(self, r: RouteResult) -> list[NodeWithScore]:
        out = [NodeWithScore(node=self._nodes(k.node), score=float(k.score)) for k in r.kept]
        emit_routing_end(r, [n.node.node_id for n in out])
        return out

    def _route(self, q: str) -> RouteResult:
        return self.engine.route(q, budget=self.budget, beam_width=self.beam_width)

    @dispatcher.span
    def retrieve(self, query_bundle: QueryBundle | str) -> list[NodeWithScore]:
        """The routed (kept) nodes, in document order, scored by routing."""
        return self._sources(self._route(self._start(query_bundle)))

    @dispatcher.span
    async def aretrieve(self, query_bundle: QueryBundle | str) -> list[NodeWithScore]:
        """:meth:`retrieve` without blocking the event loop."""
        q = self._start(query_bundle)
        return self._sources(await self.engine.aroute(q, budget=self.budget, beam_width=self.beam_width))

    # ---- answering -----------------------------------------------------------------------
    @dispatcher.span
    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        q = self._start(query_bundle)
        r = self._route(q)
        gen, sources = AnswerRun(self.engine, q, r, self.llm, t0, self.prefill), self._sources(r)
        if self.streaming:
            return StreamingResponse(response_gen=gen.pieces(), source_nodes=sources, metadata=gen.metadata)
        return Response("".join(gen.pieces()).strip(), sources, gen.metadata)

    @dispatcher.span
    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        q = self._start(query_bundle)
        r = await self.engine.aroute(q, budget=self.budget, beam_width=self.beam_width)
        gen, sources = AnswerRun(self.engine, q, r, self.llm, t0, self.prefill), self._sources(r)
        if self.streaming:
            return AsyncStreamingResponse(response_gen=gen.apieces(), source_nodes=sources, metadata=gen.metadata)
        text = "".join([p async for p in gen.apieces()])
        return Response(text.strip(), sources, gen.metadata)
