"""One prefill measurement in its own process: ``python -m h2mt.eval.prefill_worker RUN.json ROW.json``
(launched through :func:`h2mt.subprocess_run.run_module`).

A run is one (source, method, length, budget[, quantization]) of :mod:`.prefill_bench`; a fresh
process per run keeps each peak memory its own. Both methods go through the question steps of
:class:`h2mt.H2MT`: ``route`` (h2mt only), ``prompt(question, kept)`` and the prompt's ids.

- ``random``: a random-weight model of a real shape (:mod:`.prefill_models`) over a synthetic
  document of ``length`` tokens; one timed prefill after a warm-up on the same ids (CUDA events
  and ``max_memory_allocated`` on CUDA; wall time and peak RSS on CPU). The h2mt row's TTFT adds
  routing (hashing encoder for the tree walk) and the forward time of a MiniLM-shaped query encoder.
- ``hotpotqa``: the local generator answering the first ``questions`` HotpotQA questions over
  ~``length``-token haystacks (one warm-up answer first); medians of the accounting.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import BackendConfig, ChunkConfig, H2MTConfig, PrefillConfig
from ..resources import peak_memory_bytes
from ..subprocess_run import worker_main
from .datasets.hotpot import haystack_document, load_hotpot
from .metrics import answer_contained
from .prefill_models import SHAPES, ensure_model, prefill_flops, synthetic_document

__all__ = ["PrefillRun", "QUESTION", "measure", "random_run", "hotpot_run", "timed_prefill", "main"]

QUESTION = "signal trap memory"
"""The question routed over the synthetic document."""


@dataclass
class PrefillRun:
    """One measurement of the prefill benchmark."""

    source: Literal["random", "hotpotqa"]  # random-weight shape on synthetic text | local generator on HotpotQA
    method: Literal["full", "h2mt"]  # full-context prompt | routed, pruned prompt
    length: int  # document tokens (random: the full-context prompt's window)
    budget: int  # h2mt token budget (0 for full)
    device: str = "auto"  # auto | cpu | cuda
    shape: str = "llama-3.1-8b"  # random: a key of SHAPES
    quant: str = "bf16"  # random: bf16 | nf4 | int8
    cache: str = "/tmp/h2mt-gpu-models"  # random: where the random-weight models are saved
    model: str | None = None  # hotpotqa: generator (None = embedded SmolLM2-135M-Instruct)
    questions: int = 5  # hotpotqa: questions measured (after one warm-up answer)
    max_new_tokens: int = 16  # hotpotqa: answer length
    data: str | None = None  # hotpotqa: HotpotQA JSONL or the data folder (None = $H2MT_DATA)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PrefillRun:
        """Inverse of ``asdict``."""
        return cls(**d)


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def timed_prefill(backend: Any, ids: list[int], device: str) -> tuple[float, int]:
    """(ms, peak bytes) of one prefill after a warm-up on the same ids."""
    import torch

    backend.prefill_logits(ids)  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        backend.prefill_logits(ids)
        end.record()
        torch.cuda.synchronize()
        return float(start.elapsed_time(end)), peak_memory_bytes(device)
    t = time.perf_counter()
    backend.prefill_logits(ids)
    return (time.perf_counter() - t) * 1000, peak_memory_bytes(device)


def _query_encoder_ms(device: str) -> float:
    """Forward time of a MiniLM-shaped query encoder (6 layers, 384 wide) on a 24-token question."""
    import torch
    from transformers import BertConfig, BertModel

    model: Any = BertModel(BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                      intermediate_size=1536))
    enc = model.to(device).eval()
    q = torch.randint(0, 30000, (1, 24), device=device)  # (1, T)
    with torch.inference_mode():
        enc(q)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        enc(q)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1000


def _synthetic_engine(length: int, backend: Any) -> Any:
    """An h2mt index over a synthetic document whose full-context prompt just fits ``length`` tokens."""
    from ..engine import H2MT
    from ..index.encoders.base import HashingEncoder
    from ..query.prompt import build_prompt

    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=192))
    target = length - len(build_prompt(QUESTION, [], cfg.prefill, backend.chat_ids).ids)  # template, question
    for _ in range(4):
        doc = synthetic_document(target, backend.count_tokens)
        eng = H2MT.build([doc], cfg, encoder=HashingEncoder(384), backend=backend)
        excess = len(eng.prompt(QUESTION, eng.full_context()).ids) - length
        if excess <= 0:
            break
        target -= excess + 8  # leaves and separators measured one by one: shrink and rebuild
    return eng


def random_run(run: PrefillRun) -> dict[str, Any]:
    """Prefill of the full or the routed prompt on a random-weight model of ``run.shape``."""
    import torch

    from ..backends import load_backend

    device = _device(run.device)
    folder = ensure_model(run.shape, Path(run.cache))
    quant = "none" if run.quant == "bf16" else run.quant
    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    backend = load_backend(BackendConfig(model=str(folder), device=device, dtype=dtype,  # type: ignore[arg-type]
                                         quantization=quant))  # type: ignore[arg-type]
    eng = _synthetic_engine(run.length, backend)
    route = None
    if run.method == "h2mt":
        eng.route(QUESTION, budget=run.budget)  # warm-up
        route = min((eng.route(QUESTION, budget=run.budget) for _ in range(5)), key=lambda r: r.route_ms)
    prompt = eng.prompt(QUESTION, eng.full_context() if route is None else route.kept)
    ms, peak = timed_prefill(backend, prompt.ids, device)
    row: dict[str, Any] = {
        "source": run.source, "shape": run.shape, "quant": run.quant, "method": run.method, "length": run.length,
        "budget": run.budget, "prompt_tokens": len(prompt.ids), "tokens_kept": prompt.tokens_kept,
        "tokens_total": eng.index.tokens_total, "prefill_ms": ms, "peak_mem_bytes": peak, "route_ms": 0.0,
        "flops": prefill_flops(SHAPES[run.shape], len(prompt.ids)),
    }
    if route is not None:
        row["route_ms"] = route.route_ms + _query_encoder_ms(device)
        row["nodes_scored"], row["nodes_total"] = route.nodes_scored, route.nodes_total
    row["ttft_ms"] = row["prefill_ms"] + row["route_ms"]
    if device.startswith("cuda"):
        row["gpu"], row["cuda"] = torch.cuda.get_device_name(), torch.version.cuda
    row["torch"] = torch.__version__
    return row


_MEDIANS = ("prefill_ms", "ttft_ms", "route_ms", "prompt_tokens", "tokens_total", "tokens_kept")


def _median(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None  # a figure no answer reported stays None


def hotpot_run(run: PrefillRun) -> dict[str, Any]:
    """The local generator answering HotpotQA questions over haystacks of ``run.length`` tokens."""
    from ..backends import load_backend
    from ..engine import H2MT
    from ..index.encoders.base import SentenceTransformerEncoder

    backend_cfg = BackendConfig(model=run.model, device=run.device)
    backend = load_backend(backend_cfg)
    encoder = SentenceTransformerEncoder()
    cfg = H2MTConfig(backend=backend_cfg, prefill=PrefillConfig(max_new_tokens=run.max_new_tokens))
    qs = load_hotpot(run.data)
    rows = []
    for i, q in enumerate(qs[: run.questions + 1]):
        doc = haystack_document(q, qs, run.length, backend.count_tokens)
        eng = H2MT.build([doc], cfg, encoder=encoder, backend=backend)
        started = time.perf_counter()  # the request: routing, prompt, prefill and decoding
        route = eng.route(q.question, budget=run.budget) if run.method == "h2mt" else None
        prompt = eng.prompt(q.question, eng.full_context() if route is None else route.kept)
        gen = eng.generate(prompt)
        text = gen.run().strip()
        a = eng.accounting(prompt, route, gen, started)
        if i == 0:
            continue  # warm-up
        rows.append({"prefill_ms": a.prefill_ms, "ttft_ms": a.ttft_ms, "route_ms": a.route_ms,
                     "prompt_tokens": a.prompt_tokens, "tokens_total": a.tokens_total, "tokens_kept": a.tokens_kept,
                     "contained": answer_contained([q.answer], text), "peak": a.peak_mem_bytes})
    med = {k: _median([r[k] for r in rows]) for k in _MEDIANS}
    return {"source": run.source, "method": run.method, "length": run.length, "budget": run.budget,
            "model": backend.name, "questions": len(rows), **med,
            "answer_in_output": sum(bool(r["contained"]) for r in rows),
            "peak_mem_bytes": max((int(r["peak"]) for r in rows if r["peak"] is not None), default=None)}


def measure(run: PrefillRun) -> dict[str, Any]:
    """The row of one run (in this process)."""
    return random_run(run) if run.source == "random" else hotpot_run(run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process: read the run, write its row."""
    return worker_main(lambda spec: measure(PrefillRun.from_json(spec)), argv)


if __name__ == "__main__":
    sys.exit(main())
