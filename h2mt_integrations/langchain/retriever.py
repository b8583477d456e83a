"""``H2MTRetriever``: a LangChain retriever over a saved h2mt index."""

from __future__ import annotations

import threading
from typing import Any

from h2mt import H2MT
from h2mt.aio import run_blocking
from h2mt.index.encoders.base import Encoder
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, PrivateAttr

from ._convert import node_document, top_k
from ._local import SHARE_MODEL_HELP

__all__ = ["H2MTRetriever"]

_LOAD_LOCK = threading.Lock()


class H2MTRetriever(BaseRetriever):
    """Route the query coarse-to-fine through a saved h2mt index; the kept leaves as documents.

    Documents come in document order; each ``page_content`` starts with its heading breadcrumb
    (``## manual > 5.2 Bash Variables > PIPESTATUS``, so the entry name is in the text an LLM reads;
    ``breadcrumbs=False`` for the bare leaf text), with ``metadata`` = ``id`` (caller ref or node id),
    ``path`` (heading breadcrumb), ``score`` (higher is better), ``source``, ``title``,
    ``start``/``end`` (character offsets) and ``tokens``. ``budget``, ``k`` and
    ``beam_width`` can also be given per call: ``retriever.invoke(q, k=3)``.

    Example:
        .. code-block:: python

            retriever = H2MTRetriever(index_path="pg.h2mt", budget=2048)
            docs = retriever.invoke("What is the default value of work_mem?")
    """

    index_path: str | None = Field(default=None, description="Saved index (`h2mt build SOURCE -o FILE`)")
    budget: int = Field(default=2048, ge=1, description="Token budget of the returned leaves (generator tokens)")
    k: int | None = Field(default=None, ge=1, description="Return at most k leaves (best scores, document order)")
    beam_width: int | None = Field(default=None, ge=1, description="Routing beam; None = the engine's default")
    breadcrumbs: bool = Field(
        default=True, description="Start each page_content with its heading path line ('## Doc > Section > Entry')"
    )
    share_model: bool = Field(default=True, description=SHARE_MODEL_HELP)

    _engine: H2MT | None = PrivateAttr(default=None)
    _encoder: Encoder | None = PrivateAttr(default=None)

    def __init__(self, *, engine: H2MT | None = None, encoder: Encoder | None = None, **kwargs: Any) -> None:
        """Settings as keywords; ``engine`` injects a loaded :class:`h2mt.H2MT` (then no index_path)."""
        super().__init__(**kwargs)
        if engine is None and self.index_path is None:
            raise ValueError("H2MTRetriever needs index_path= (a saved h2mt index) or engine=")
        self._engine = engine
        self._encoder = encoder

    @property
    def engine(self) -> H2MT:
        """The h2mt engine over the index (loaded on first use; no re-encoding). Its encoder is the
        one the index was built with: with ``share_model`` the process's shared copy."""
        with _LOAD_LOCK:
            if self._engine is None:
                from h2mt.index.encoders.shared import shared_encoder
                from h2mt.index.store import load_index

                assert self.index_path is not None
                index = load_index(self.index_path)
                enc, meta = self._encoder, index.meta.get("encoder", {})
                if enc is None and self.share_model and meta.get("kind") in ("sentence-transformers", "hashing"):
                    enc = shared_encoder(meta)
                self._engine = H2MT(index, encoder=enc)
            return self._engine

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        eng = self.engine
        budget = kwargs.get("budget", self.budget)
        r = eng.route(query, budget=budget, beam_width=kwargs.get("beam_width", self.beam_width))
        docs = [node_document(s, eng.index, kwargs.get("breadcrumbs", self.breadcrumbs)) for s in r.kept]
        return top_k(docs, kwargs.get("k", self.k))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        sync = run_manager.get_sync()
        return await run_blocking(lambda: self._get_relevant_documents(query, run_manager=sync, **kwargs))
