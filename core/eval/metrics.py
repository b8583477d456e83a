"""Metric definitions from DESIGN.md section 4 (selection-level metrics)."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["normalise", "evidence_kept", "answer_contained"]


def normalise(s: str) -> str:
    """DESIGN.md normalisation: lowercase, non-alphanumerics to single spaces."""
    return re.sub(r"[^0-9a-z]+", " ", s.lower()).strip()


def evidence_kept(evidence: str, kept_text: str) -> bool:
    """Whether the evidence sentence survives selection (normalised containment)."""
    return normalise(evidence) in normalise(kept_text)


def answer_contained(answers: Iterable[str], kept_text: str) -> bool:
    """Whether any gold answer occurs in the kept text (normalised containment)."""
    text = f" {normalise(kept_text)} "
    return any(f" {normalise(a)} " in text for a in answers if normalise(a))
