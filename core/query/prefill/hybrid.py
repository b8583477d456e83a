"""Hybrid prefill: the ``text_leaves`` best-scoring kept leaves as raw text, every other kept
node as its HMT memory embedding (docs/memory_prefill.md).

The prompt and its prefill are the memory strategy's (:mod:`h2mt.query.prefill.memory`); which
leaves stay text is :func:`~h2mt.query.prefill.memory.text_leaf_ids` under ``mode="hybrid"``.
"""

from __future__ import annotations

from ...config import PrefillMode
from .memory import MemoryPrefill

__all__ = ["HybridPrefill", "STRATEGY"]


class HybridPrefill(MemoryPrefill):
    """Memory prefill that keeps the top ``PrefillConfig.text_leaves`` leaves as text."""

    mode = PrefillMode.HYBRID


STRATEGY = HybridPrefill()
