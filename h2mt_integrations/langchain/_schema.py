"""Input/output schemas of :class:`H2MTRunnable`, input parsing and the accounting of one run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h2mt import Accounting, InputError, RouteResult
from h2mt.types import GenerationStats
from langchain_core.documents import Document
from langchain_core.messages import AnyMessage, BaseMessage, convert_to_messages
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, Field

__all__ = ["H2MTInput", "H2MTOutput", "Turn", "merge_chunks", "parse_input", "run_stats"]


class H2MTInput(BaseModel):
    """``{"question", "documents"}`` or LangChain's retrieval-chain ``{"input", "context"}``."""

    question: str | None = Field(default=None, description="The question (alias: `input`)")
    input: str | None = Field(default=None, description="The question, retrieval-chain convention")
    documents: list[Document] | None = Field(default=None, description="Documents to route over (alias: `context`)")
    context: list[Document] | None = Field(default=None, description="Documents, retrieval-chain convention")
    chat_history: list[AnyMessage] | None = Field(default=None, description="Earlier turns, before the question")


class H2MTOutput(BaseModel):
    """The answer, the documents it was given, and the run's accounting."""

    answer: str = Field(description="The generated answer")
    sources: list[Document] = Field(description="Kept documents in order, with metadata `path` and `score`")
    stats: dict[str, float | int | None] = Field(
        description="Accounting: tokens_total/kept, kept_ratio, prompt/completion tokens, nodes scored/total, "
        "route/prefill/ttft/total ms, peak_mem_bytes"
    )


def parse_input(inp: Mapping[str, Any]) -> tuple[str, list[Document], list[BaseMessage]]:
    """The question, the documents and the chat history of an input dict."""
    if not isinstance(inp, Mapping):
        raise InputError(
            f"H2MTRunnable takes a dict {{'question', 'documents'}} or {{'input', 'context'}}, got {type(inp).__name__}"
        )
    q = inp.get("question", inp.get("input"))
    if not isinstance(q, str) or not q.strip():
        raise InputError("H2MTRunnable needs a non-empty 'question' (or 'input') string")
    raw = inp.get("documents", inp.get("context")) or []
    docs = [d if isinstance(d, Document) else Document(page_content=str(d)) for d in raw]
    return q, docs, convert_to_messages(inp.get("chat_history") or [])


def run_stats(
    r: RouteResult | None, msg: BaseMessage | None, t0: float, t_llm: float, first: float | None
) -> dict[str, float | int | str | None]:
    """Accounting of one run: routing from ``r``, generation from the model message's metadata.

    TTFT is request -> first token: routing and prompt building, plus the model's own TTFT
    (h2mt models report it), else the arrival of the first streamed piece.
    """
    acc: Mapping[str, Any] = (msg.response_metadata.get("accounting") if msg is not None else None) or {}
    usage: Mapping[str, Any] = getattr(msg, "usage_metadata", None) or {}
    first_ms = float(acc["ttft_ms"]) if "ttft_ms" in acc else ((first or t_llm) - t_llm) * 1000.0
    stats = GenerationStats(
        prompt_tokens=usage.get("input_tokens"), completion_tokens=usage.get("output_tokens"),
        prefill_ms=acc.get("prefill_ms"), first_token_ms=first_ms, peak_mem_bytes=int(acc.get("peak_mem_bytes", 0)),
        **{k: int(acc.get(k, 0)) for k in ("positions_reused", "positions_recomputed", "kv_bytes_read", "kv_misses")},
        kv_adapter=str(acc.get("kv_adapter", "")),
    )
    return Accounting.from_run(
        tokens_total=r.tokens_total if r else 0, nodes_total=r.nodes_total if r else 0,
        tokens_kept=r.tokens_kept if r else 0, route=r, stats=stats, started=t0, generation_started=t_llm,
        ended=time.perf_counter(),
    ).as_dict()


@dataclass
class Turn:
    """One run: the kept documents, the routing result, the model messages and timings."""

    sources: list[Document]
    route: RouteResult | None
    messages: list[BaseMessage]
    t0: float  # request start
    t_llm: float  # model call start
    prompt: Any = None  # memory/hybrid prefill: the h2mt Prompt with soft tokens (prefilled directly)

    def stats(self, msg: BaseMessage | None, first: float | None = None) -> dict[str, float | int | str | None]:
        """Accounting of this run, given the model's final message (and first-piece time when streamed)."""
        return run_stats(self.route, msg, self.t0, self.t_llm, first)


def merge_chunks(chunks: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """One input dict from streamed input chunks (``AddableDict`` chunks add up)."""
    out: Any = None
    for c in chunks:
        out = c if out is None else (out + AddableDict(c) if isinstance(out, AddableDict) else {**out, **c})
    return out if out is not None else {}
