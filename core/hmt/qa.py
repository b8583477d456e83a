"""Long-document question answering with an HMT memory: read the document, answer from memory.

The document is read segment by segment into the memory state (no KV cache survives a
segment); the question, formatted with the tokenizer's chat template, is the final segment
that greedy decoding starts from. Cost accounting uses :class:`h2mt.backends.base.GenerationStats`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ..backends.base import GenerationStats
from ..resources import peak_memory_bytes

__all__ = ["DEFAULT_QUESTION_TEMPLATE", "HMTAnswer", "answer_with_memory"]

log = logging.getLogger(__name__)

DEFAULT_QUESTION_TEMPLATE = "Answer the question about the document you have just read. Be brief.\nQuestion: {question}"


@dataclass
class HMTAnswer:
    """Answer text plus cost accounting (prompt = document + chat-formatted question)."""

    text: str
    stats: GenerationStats
    segments: int  # segment passes over the document (the question segment not included)
    document_tokens: int
    question_tokens: int


def answer_with_memory(
    hmt: Any,
    tokenizer: Any,
    document: str,
    question: str,
    max_new_tokens: int = 128,
    system: str | None = None,
    template: str = DEFAULT_QUESTION_TEMPLATE,
) -> HMTAnswer:
    """Read ``document`` into ``hmt``'s memory, then answer ``question`` greedily.

    The final segment is ``tokenizer.apply_chat_template`` of (optional ``system`` and) the
    user message ``template.format(question=question)`` with the generation prompt. Returns the
    decoded answer and stats: ``prompt_tokens`` (document + question tokens), ``prefill_ms``
    (reading the document and prefilling the question), ``first_token_ms`` (TTFT from the call),
    ``completion_tokens``, ``total_ms``, ``peak_mem_bytes`` and ``finish_reason``.
    """
    import torch

    from ..backends.decoding import collect_eos_ids
    from .model import HMTState

    stats = GenerationStats()
    t0 = time.perf_counter()
    if hasattr(torch, "cuda") and hmt.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(hmt.device)
    doc_ids = tokenizer(document, add_special_tokens=False)["input_ids"] if document else []
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": template.format(question=question)}
    ]
    q_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(q_ids, dict) or hasattr(q_ids, "keys"):
        q_ids = q_ids["input_ids"]
    q_ids = [int(i) for i in q_ids]
    eos = sorted(collect_eos_ids(tokenizer, hmt.backbone))
    state = hmt.read(doc_ids) if doc_ids else HMTState()
    out: list[int] = []
    stats.finish_reason = "length"
    for step, tok in enumerate(hmt.stream_greedy(q_ids, state, max_new_tokens, eos)):
        if step == 0:
            stats.first_token_ms = stats.prefill_ms = (time.perf_counter() - t0) * 1000.0
        t = int(tok[0])
        if t in eos:
            stats.finish_reason = "stop"
            break
        out.append(t)
    stats.total_ms = (time.perf_counter() - t0) * 1000.0
    stats.prompt_tokens = len(doc_ids) + len(q_ids)
    stats.completion_tokens = len(out) + (1 if stats.finish_reason == "stop" else 0)
    stats.peak_mem_bytes = peak_memory_bytes(hmt.device)
    text = tokenizer.decode(out, skip_special_tokens=True).strip()
    return HMTAnswer(text, stats, state.segments, len(doc_ids), len(q_ids))
