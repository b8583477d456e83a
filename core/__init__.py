"""h2mt: Semantic Hierarchy-Aware Hierarchical Memory Transformer.

Build a semantic hierarchy of long documents once, route each question
coarse-to-fine through it under a token budget, and prefill a local causal LM
over only the kept leaves.

``import h2mt`` is cheap: heavy libraries load lazily on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import (
    AggregateStrategy,
    AnswerTask,
    BackendConfig,
    ChunkConfig,
    EncoderConfig,
    FusionMode,
    H2MTConfig,
    HierarchyConfig,
    MemoryConfig,
    PrefillConfig,
    PrefillMode,
    RouteConfig,
)
from .errors import (
    BudgetError,
    ConfigError,
    H2MTError,
    IndexCorruptError,
    IndexFileError,
    IndexVersionError,
    InputError,
    MissingExtraError,
    ModelError,
    ModelNotFoundError,
    ParseError,
    ResourceError,
)
from .types import Accounting, Answer, Node, NodeKind, ParsedDocument, RouteResult, ScoredNode, Section

__version__ = "0.1.0"

_LAZY = {
    "H2MT": "h2mt.engine",
    "Prompt": "h2mt.query.prompt",
    "SoftTokens": "h2mt.types",
    "Generation": "h2mt.query.generate",
    "TokenCounter": "h2mt.counting",
    "AnswerStream": "h2mt.engine",
    "Index": "h2mt.index.index",
    "LeafInput": "h2mt.index.external",
    "load_index": "h2mt.index.store",
    "save_index": "h2mt.index.store",
    "parse_path": "h2mt.index.parse",
    "parse_text": "h2mt.index.parse",
    "HashingEncoder": "h2mt.index.encoders.base",
    "SentenceTransformerEncoder": "h2mt.index.encoders.base",
    "LMHiddenStateEncoder": "h2mt.index.encoders.base",
    "load_encoder": "h2mt.index.encoders.base",
    "load_backend": "h2mt.backends",
    "load_tokenizer": "h2mt.backends",
}

__all__ = [
    "AggregateStrategy", "AnswerTask", "BackendConfig", "ChunkConfig", "EncoderConfig", "FusionMode", "H2MTConfig",
    "HierarchyConfig", "MemoryConfig", "PrefillConfig", "PrefillMode", "RouteConfig",
    "BudgetError", "ConfigError", "H2MTError", "IndexCorruptError", "IndexFileError", "IndexVersionError",
    "InputError", "MissingExtraError", "ModelError", "ModelNotFoundError", "ParseError", "ResourceError",
    "Accounting", "Answer", "Node", "NodeKind", "ParsedDocument", "RouteResult", "ScoredNode", "Section",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import heavy parts of the public API on first access."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'h2mt' has no attribute {name!r}")
