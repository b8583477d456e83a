"""LangChain integration of h2mt (``pip install "h2mt[langchain]"``, langchain-core 1.x).

- :class:`ChatH2MT` / :class:`H2MTLLM`: chat model / LLM over the h2mt local backend;
- :class:`H2MTRunnable`: routes ``{"question", "documents"}`` (or ``{"input", "context"}``) under a
  token budget and answers with sources and accounting, in place of a "stuff documents" chain;
- :class:`H2MTRetriever`: a retriever over a saved h2mt index;
- :class:`H2MTDocumentCompressor`: budgeted hierarchical selection for ``ContextualCompressionRetriever``;
- :class:`H2MTEmbeddings`: h2mt's offline encoder (default all-MiniLM-L6-v2) as ``Embeddings``.

``import h2mt`` never imports LangChain; only this package does.
"""

from __future__ import annotations

from .chat_model import ChatH2MT
from .compressor import H2MTDocumentCompressor
from .embeddings import H2MTEmbeddings
from .llm import H2MTLLM
from .retriever import H2MTRetriever
from .runnable import H2MTRunnable

__all__ = ["ChatH2MT", "H2MTLLM", "H2MTRunnable", "H2MTRetriever", "H2MTDocumentCompressor", "H2MTEmbeddings"]
