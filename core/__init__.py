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
    "H2MT": "pipeline",
    "Prompt": "prompt",
    "SoftTokens": "prompt",
    "Generation": "generation",
    "TokenCounter": "counting",
    "AnswerStream": "pipeline",
    "Index": "index",
    "LeafInput": "external",
    "load_index": "store",
    "save_index": "store",
    "parse_path": "parse",
    "parse_text": "parse",
    "HashingEncoder": "encoders",
    "SentenceTransformerEncoder": "encoders",
    "LMHiddenStateEncoder": "encoders",
    "load_encoder": "encoders",
    "load_backend": "backends",
    "load_tokenizer": "backends",
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
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'h2mt' has no attribute {name!r}")
