"""HMT: Hierarchical Memory Transformer (He et al., NAACL 2025) for long inputs on a small LM.

A frozen (or LoRA-adapted) causal LM reads a long input segment by segment; each segment
leaves one memory embedding in a cache, and the next segment recalls from it. ``import
h2mt.hmt`` is cheap: torch, transformers and peft load on first use of a heavy name.

>>> from h2mt.hmt import HMTConfig
>>> HMTConfig(segment_len=256, sensory_len=32).new_tokens
222
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import HMTConfig, TrainableMode

_LAZY = {
    "HMT": "model",
    "HMTOutput": "model",
    "HMTState": "model",
    "SegmentResult": "model",
    "save_hmt": "artifact",
    "load_hmt": "artifact",
    "load_default_hmt": "artifact",
    "default_weights_path": "artifact",
    "export_hmt": "artifact",
    "backbone_fingerprint": "artifact",
    "HMTTrainer": "train",
    "train_hmt": "train",
    "TrainResult": "train",
    "HMTAnswer": "qa",
    "answer_with_memory": "qa",
    "evaluate_perplexity": "evaluate",
    "load_corpus": "data",
    "split_documents": "data",
    "segment_bounds": "segments",
    "segment_layout": "segments",
}

__all__ = ["HMTConfig", "TrainableMode", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'h2mt.hmt' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
