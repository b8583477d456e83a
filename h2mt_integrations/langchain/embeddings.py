"""``H2MTEmbeddings``: h2mt's offline encoder as a LangChain ``Embeddings`` model."""

from __future__ import annotations

import threading
from typing import Any, Literal

from h2mt import EncoderConfig
from h2mt.aio import run_blocking
from h2mt.index.encoders.base import DEFAULT_ENCODER_NAME, Encoder
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field, PrivateAttr

from ._local import SHARE_MODEL_HELP
from ._routing import load_shared_encoder

__all__ = ["H2MTEmbeddings"]


class H2MTEmbeddings(BaseModel, Embeddings):
    """Embed texts with an h2mt encoder (default: the embedded all-MiniLM-L6-v2), offline.

    The same vectors h2mt routes with, so a LangChain vector store and an h2mt index agree.
    ``encoder=`` also takes an :class:`h2mt.index.encoders.base.Encoder` object (e.g. ``HashingEncoder(256)``).

    Example:
        .. code-block:: python

            emb = H2MTEmbeddings()                       # loaded on first use
            store = InMemoryVectorStore.from_documents(docs, emb)
    """

    encoder: str = Field(
        default="default",
        description="'default' = embedded all-MiniLM-L6-v2, 'hashing' = deterministic model-free encoder, "
        "or a sentence-transformers model path",
    )
    device: str = Field(default="cpu", description="Torch device of the encoder")
    batch_size: int = Field(default=16, ge=1, description="Texts per encoder batch")
    runtime: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        default="auto", description="sentence-transformers runtime: torch, ONNX Runtime fp32 or int8; auto = "
        "int8 ONNX for the embedded MiniLM on the CPU, else torch (h2mt's EncoderConfig default)"
    )
    share_model: bool = Field(default=True, description=SHARE_MODEL_HELP)

    _encoder: Encoder | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        """Settings as keywords; ``encoder`` may be a name/path or an h2mt ``Encoder`` object."""
        enc = kwargs.get("encoder")
        if enc is not None and not isinstance(enc, str):
            kwargs["encoder"] = str(getattr(enc, "name", type(enc).__name__))
        super().__init__(**kwargs)
        self._encoder = None if enc is None or isinstance(enc, str) else enc

    def _config(self) -> EncoderConfig:
        common: dict[str, Any] = {"device": self.device, "batch_size": self.batch_size, "backend": self.runtime}
        if self.encoder in ("", "default", DEFAULT_ENCODER_NAME):
            return EncoderConfig(**common)
        if self.encoder == "hashing":
            return EncoderConfig(kind="hashing", **common)
        return EncoderConfig(model=self.encoder, **common)

    @property
    def model(self) -> Encoder:
        """The h2mt encoder (loaded on first use, quietly; with ``share_model`` the process's one copy)."""
        with self._lock:
            if self._encoder is None:
                self._encoder = load_shared_encoder(self._config(), self.share_model)
            return self._encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text (one encoder batch call)."""
        if not texts:
            return []
        return [[float(x) for x in row] for row in self.model.encode(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """The vector of a query (encoded like a document: the encoder is symmetric)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """:meth:`embed_documents` in a worker thread (the event loop keeps serving)."""
        return await run_blocking(lambda: self.embed_documents(texts))

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` in a worker thread."""
        return await run_blocking(lambda: self.embed_query(text))
