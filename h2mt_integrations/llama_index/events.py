"""Instrumentation events for LlamaIndex's dispatcher (tracers show them inside the active span)."""

from __future__ import annotations

from h2mt.types import RouteResult
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events import BaseEvent

__all__ = ["HierarchyBuildEvent", "RoutingEndEvent", "RoutingStartEvent", "emit_routing_end"]

dispatcher = get_dispatcher(__name__)


class RoutingStartEvent(BaseEvent):
    """Routing of one query begins over ``nodes`` candidate nodes."""

    query: str
    nodes: int
    budget: int
    beam_width: int

    @classmethod
    def class_name(cls) -> str:
        """Event name shown by tracers."""
        return "H2MTRoutingStartEvent"


class HierarchyBuildEvent(BaseEvent):
    """A hierarchy over the candidates was built (or taken from the cache)."""

    leaves: int
    nodes_total: int
    cached: bool
    build_ms: float

    @classmethod
    def class_name(cls) -> str:
        """Event name shown by tracers."""
        return "H2MTHierarchyBuildEvent"


class RoutingEndEvent(BaseEvent):
    """Routing finished: what was kept and pruned, with its cost."""

    query: str
    kept: int
    pruned: int
    tokens_total: int
    tokens_kept: int
    kept_ratio: float
    nodes_scored: int
    nodes_total: int
    route_ms: float
    kept_ids: list[str]

    @classmethod
    def class_name(cls) -> str:
        """Event name shown by tracers."""
        return "H2MTRoutingEndEvent"


def emit_routing_end(r: RouteResult, kept_ids: list[str]) -> None:
    """Dispatch a :class:`RoutingEndEvent` for ``r``."""
    dispatcher.event(
        RoutingEndEvent(
            query=r.question,
            kept=len(r.kept),
            pruned=len(r.pruned),
            tokens_total=r.tokens_total,
            tokens_kept=r.tokens_kept,
            kept_ratio=r.kept_ratio,
            nodes_scored=r.nodes_scored,
            nodes_total=r.nodes_total,
            route_ms=r.route_ms,
            kept_ids=kept_ids,
        )
    )
