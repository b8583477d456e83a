"""``H2MTEmbedding``: h2mt's offline encoder (embedded all-MiniLM-L6-v2 by default) as a LlamaIndex
embedding model, so a ``VectorStoreIndex`` needs no API and shares the encoder with the postprocessor."""

from __future__ import annotations

from typing import Any

from h2mt.aio import run_blocking
from h2mt.index.encoders.base import Encoder
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from ._resources import ENCODER_HELP, SHARE_MODEL_HELP, resolve_encoder

__all__ = ["H2MTEmbedding"]


class H2MTEmbedding(BaseEmbedding):
    """Embeds with an h2mt encoder; ``encoder=`` takes a spec string or an Encoder object."""

    encoder: str = Field("default", description=f"Which encoder: {ENCODER_HELP}.")
    share_model: bool = Field(True, description=SHARE_MODEL_HELP)

    _encoder: Any = PrivateAttr(None)

    def __init__(self, **data: Any) -> None:
        enc = data.get("encoder", "default")
        obj = None if isinstance(enc, str) else enc
        if obj is not None:
            data["encoder"] = obj.name
        data.setdefault("model_name", data.get("encoder", "default"))
        super().__init__(**data)
        self._encoder = obj

    @classmethod
    def class_name(cls) -> str:
        """Name in LlamaIndex serialisation."""
        return "H2MTEmbedding"

    @property
    def h2mt_encoder(self) -> Encoder:
        """The underlying h2mt encoder (loaded on first use); pass it to the postprocessor to share it."""
        if self._encoder is None:
            self._encoder = resolve_encoder(self.encoder, share=self.share_model)
        return self._encoder

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [row.tolist() for row in self.h2mt_encoder.encode(texts)]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await run_blocking(lambda: self._get_text_embeddings(texts))

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aget_text_embeddings([query]))[0]
