"""The keyword under which a causal LM's ``forward`` takes and returns its KV cache."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["cache_keyword"]


def cache_keyword(model: Any) -> str:
    """``"cache"`` when ``model.forward`` accepts a ``cache`` argument, else ``"past_key_values"``.

    transformers >= 5.2x names the KV cache ``cache`` (``past_key_values`` is deprecated there);
    the same name is used to read the cache back from the model output. For a wrapped model
    (e.g. a LoRA/PEFT wrapper) pass the base model, whose ``forward`` has the real signature.
    """
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
