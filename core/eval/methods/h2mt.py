"""The h2mt rows of the benchmark: ``h2mt-bK``, h2mt's coarse-to-fine routing at beam width K
(``h2mt`` in a method list expands to one row per ``--beams`` width)."""

from __future__ import annotations

import time

from .base import GroupView, MethodBase, Selection, nodes_selection

__all__ = ["H2MTRoute"]


class H2MTRoute(MethodBase):
    """h2mt routing at a given beam width."""

    budgeted, needs_encoder = True, True

    def __init__(self, beam: int) -> None:
        self.beam = beam
        self.name = f"h2mt-b{beam}"

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Coarse-to-fine route; kept leaves in document order."""
        t0 = time.perf_counter()
        r = view.eng.route(question, budget=budget, beam_width=self.beam)
        return nodes_selection([k.node for k in r.kept], r.nodes_scored, t0)
