"""``H2MTDocumentCompressor``: budgeted hierarchical selection for ``ContextualCompressionRetriever``."""

from __future__ import annotations

from collections.abc import Sequence

from h2mt.aio import run_blocking
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field

from ._convert import top_k
from ._routing import RoutingSettings

__all__ = ["H2MTDocumentCompressor"]


class H2MTDocumentCompressor(RoutingSettings, BaseDocumentCompressor):
    """Keep the documents h2mt routes to under a token budget, in their original order.

    The given documents become the leaves of a small h2mt hierarchy (one leaf each, never
    re-chunked); heading paths come from ``path``/``header_path`` or the ``Header 1..6``
    metadata of ``MarkdownHeaderTextSplitter``, documents are grouped by ``source``. Kept
    documents keep their id and metadata, plus ``path`` and ``score`` (higher is better).

    Example:
        .. code-block:: python

            retriever = ContextualCompressionRetriever(
                base_compressor=H2MTDocumentCompressor(budget=1024), base_retriever=vectorstore_retriever
            )
    """

    k: int | None = Field(default=None, ge=1, description="Return at most k documents (best scores, original order)")

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Route ``query`` over ``documents``; the kept ones within ``budget`` (and ``k``)."""
        kept, _ = self._route(documents, query)
        return top_k(kept, self.k)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """:meth:`compress_documents` off the event loop."""
        return await run_blocking(lambda: self.compress_documents(documents, query, callbacks))
