"""LlamaIndex integration of h2mt (``pip install "h2mt[llama-index]"``, llama-index-core 0.14).

Swap the context step of a LlamaIndex RAG pipeline for h2mt routing with one line::

    index.as_query_engine(node_postprocessors=[H2MTNodePostprocessor(budget=1024)])

* :class:`H2MTNodePostprocessor` - routes candidate nodes through a hierarchy under a token budget;
* :class:`H2MTQueryEngine` - a whole h2mt pipeline (route, one pruned prefill, stream) as a query engine;
* :class:`H2MTLLM` - the local h2mt generator as a LlamaIndex ``CustomLLM``;
* :class:`H2MTEmbedding` - h2mt's offline encoder as a LlamaIndex embedding model;
* events :class:`RoutingStartEvent`, :class:`RoutingEndEvent`, :class:`HierarchyBuildEvent`;
* :func:`install_tokenizer` - hand LlamaIndex the local model's tokenizer (no tiktoken download).

Importing ``h2mt`` never imports LlamaIndex; only this package does.
"""

from __future__ import annotations

from ._resources import install_tokenizer
from .embedding import H2MTEmbedding
from .events import HierarchyBuildEvent, RoutingEndEvent, RoutingStartEvent
from .llm import H2MTLLM
from .postprocessor import H2MTNodePostprocessor
from .query_engine import H2MTQueryEngine

__all__ = [
    "H2MTEmbedding",
    "H2MTLLM",
    "H2MTNodePostprocessor",
    "H2MTQueryEngine",
    "HierarchyBuildEvent",
    "RoutingEndEvent",
    "RoutingStartEvent",
    "install_tokenizer",
]
