"""Settings shared by the components that route over caller-given documents (runnable, compressor)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from h2mt import H2MT, BackendConfig, EncoderConfig, H2MTConfig, RouteResult
from h2mt.counting import CountFn
from h2mt.index.encoders.base import Encoder
from langchain_core.documents import Document
from pydantic import BaseModel, Field, PrivateAttr

from ._convert import to_leaves
from ._local import SHARE_MODEL_HELP

__all__ = ["RoutingSettings", "load_shared_encoder", "route_documents", "route_documents_engine"]

_LOAD_LOCK = threading.Lock()


def load_shared_encoder(cfg: EncoderConfig, share: bool) -> Encoder:
    """The encoder of ``cfg``: the process's shared one, or (``share`` False) a private copy
    (quietly either way)."""
    from h2mt.backends.shared import quiet_loading
    from h2mt.index.encoders.base import load_encoder
    from h2mt.index.encoders.shared import shared_encoder

    if share:
        return shared_encoder(cfg)
    with quiet_loading():
        return load_encoder(cfg)


def route_documents(
    docs: Sequence[Document],
    question: str,
    *,
    encoder: Encoder,
    token_counter: CountFn,
    budget: int,
    beam_width: int,
) -> tuple[list[Document], RouteResult | None]:
    """Route ``question`` over ``docs`` (one leaf each); the kept documents with ``path`` and ``score``."""
    kept, r, _ = route_documents_engine(docs, question, encoder=encoder, token_counter=token_counter,
                                        budget=budget, beam_width=beam_width)
    return kept, r


def route_documents_engine(
    docs: Sequence[Document], question: str, *, encoder: Encoder, token_counter: CountFn, budget: int,
    beam_width: int, config: H2MTConfig | None = None, backend: Any = None,
) -> tuple[list[Document], RouteResult | None, H2MT | None]:
    """:func:`route_documents`, also returning the engine built over ``docs`` (with ``config``,
    e.g. HMT node memories, on ``backend``)."""
    leaves = to_leaves(docs)
    if not any(x.text.strip() for x in leaves):
        return [], None, None
    eng = H2MT.from_leaves(leaves, config or H2MTConfig(), encoder=encoder, token_counter=token_counter,
                           backend=backend)
    r = eng.route(question, budget=budget, beam_width=beam_width)
    kept = []
    for s in r.kept:
        d, x = docs[int(s.node.ref)], leaves[int(s.node.ref)]
        path = [x.doc_title, *x.path] if x.doc_title else list(x.path)
        meta = {**d.metadata, "path": path, "score": s.score}
        if s.node.excerpt:  # routing kept only the sentences matching the question (what fitted the budget)
            meta["excerpt"] = True
        content = s.node.text if s.node.excerpt else d.page_content
        kept.append(Document(page_content=content, metadata=meta, id=d.id))
    return kept, r, eng


class RoutingSettings(BaseModel):
    """Budget and beam of routing over documents; encoder and token counter (loaded on first use)."""

    budget: int = Field(default=1024, ge=1, description="Token budget of the kept documents (generator tokens)")
    beam_width: int = Field(default=4, ge=1, description="Internal nodes kept per level while routing")
    share_model: bool = Field(default=True, description=SHARE_MODEL_HELP)

    _encoder: Encoder | None = PrivateAttr(default=None)
    _token_counter: CountFn | None = PrivateAttr(default=None)

    def __init__(
        self, *, encoder: Encoder | None = None, token_counter: CountFn | None = None, **kwargs: Any
    ) -> None:
        """Settings as keywords; ``encoder``/``token_counter`` replace the embedded defaults."""
        super().__init__(**kwargs)
        self._encoder = encoder
        self._token_counter = token_counter

    @property
    def encoder(self) -> Encoder:
        """The leaf encoder (default: the embedded all-MiniLM-L6-v2)."""
        with _LOAD_LOCK:
            if self._encoder is None:
                self._encoder = load_shared_encoder(EncoderConfig(), self.share_model)
            return self._encoder

    @property
    def token_counter(self) -> CountFn:
        """Counts generator tokens of the documents (default: the embedded generator's tokenizer)."""
        with _LOAD_LOCK:
            if self._token_counter is None:
                self._token_counter = self._default_counter()
            return self._token_counter

    def _default_counter(self) -> CountFn:
        from h2mt.backends import load_counter
        from h2mt.backends.shared import shared_counter

        return shared_counter(BackendConfig()) if self.share_model else load_counter(BackendConfig())

    def _route(self, docs: Sequence[Document], question: str) -> tuple[list[Document], RouteResult | None]:
        return route_documents(
            docs, question, encoder=self.encoder, token_counter=self.token_counter,
            budget=self.budget, beam_width=self.beam_width,
        )
