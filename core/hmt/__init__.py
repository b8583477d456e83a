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
    "HMT": "h2mt.hmt.model",
    "HMTOutput": "h2mt.hmt.model",
    "HMTState": "h2mt.hmt.model",
    "SegmentResult": "h2mt.hmt.model",
    "save_hmt": "h2mt.hmt.artifact",
    "load_hmt": "h2mt.hmt.artifact",
    "load_default_hmt": "h2mt.hmt.artifact",
    "default_weights_path": "h2mt.hmt.artifact",
    "export_hmt": "h2mt.hmt.artifact",
    "backbone_fingerprint": "h2mt.hmt.artifact",
    "HMTTrainer": "h2mt.hmt.train.trainer",
    "train_hmt": "h2mt.hmt.train.trainer",
    "TrainResult": "h2mt.hmt.train.trainer",
    "HMTAnswer": "h2mt.hmt.qa",
    "answer_with_memory": "h2mt.hmt.qa",
    "evaluate_perplexity": "h2mt.hmt.train.evaluate",
    "load_corpus": "h2mt.hmt.train.data",
    "split_documents": "h2mt.hmt.train.data",
    "segment_bounds": "h2mt.hmt.segments",
    "segment_layout": "h2mt.hmt.segments",
}

__all__ = ["HMTConfig", "TrainableMode", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'h2mt.hmt' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
