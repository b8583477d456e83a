"""Evaluation helpers: metrics and dataset loaders (see DESIGN.md section 4)."""

from __future__ import annotations

from .metrics import answer_contained, evidence_kept, normalise

__all__ = ["answer_contained", "evidence_kept", "normalise"]
