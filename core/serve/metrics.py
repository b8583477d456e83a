"""Prometheus metrics of one server (its own registry, so several apps in a process never clash)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics", "ENDPOINTS", "endpoint_of"]

ENDPOINTS = ("/v1/models", "/v1/chat/completions", "/v1/route", "/healthz", "/readyz", "/metrics")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def endpoint_of(path: str) -> str:
    """The metric label of a request path: a known endpoint, ``static`` for the page, else ``other``."""
    if path in ENDPOINTS:
        return path
    return "other" if path.startswith("/v1/") else "static"


class ServeMetrics:
    """Requests by endpoint and status, latency, TTFT, queue depth, in-flight, 429s, cancellations, tokens."""

    def __init__(self, waiting: Callable[[], float], active: Callable[[], float]) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("h2mt_requests", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("h2mt_request_duration_seconds", "Request latency (streams: to the last byte)",
                                 ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("h2mt_ttft_seconds", "Time to first token of answered requests (queue wait included)",
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("h2mt_queue_depth", "Requests waiting for the generator", registry=r)
        self.queue_depth.set_function(waiting)
        self.in_flight = Gauge("h2mt_in_flight", "Requests generating now", registry=r)
        self.in_flight.set_function(active)
        self.rejected = Counter("h2mt_rejected", "Requests answered 429 (queue full)", registry=r)
        self.cancelled = Counter("h2mt_generations_cancelled", "Generations stopped early, by reason",
                                 ["reason"], registry=r)
        self.prompt_tokens = Counter("h2mt_prompt_tokens", "Prompt positions prefilled", registry=r)
        self.completion_tokens = Counter("h2mt_completion_tokens", "Tokens generated", registry=r)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
