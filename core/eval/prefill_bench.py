"""``h2mt bench-prefill``: prefill cost of h2mt (routing + pruned prefill) against full-context prefill.

Each (quantization, method, length, budget) run happens in a fresh process
(``python -m h2mt.eval.prefill_worker``, see there for what one run measures), so each peak
memory is its own. Two sources:

- ``random`` (GPU figures): random-weight models of real shapes (``--shape``) in bf16, NF4 or
  int8 (``--quant``) over a synthetic document, at ``--lengths`` x ``--budgets``; every row also
  gets the FLOP-limited time at ``--peak-tflops``. ``--device cpu --shape tiny`` runs end to end on CPU.
- ``hotpotqa``: the local generator (``--model``, default the embedded SmolLM2-135M) answering
  ``--questions`` HotpotQA questions over haystacks of ``--lengths`` tokens (medians).

Rows go to ``OUT/prefill_<source>.jsonl``; :func:`random_table` and :func:`hotpot_table` render them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from ..subprocess_run import RunFailed, run_module
from .datasets.paths import HOTPOT_FILE, data_file
from .prefill_models import SHAPES, ensure_model
from .prefill_worker import PrefillRun

__all__ = ["PrefillBenchOptions", "DEFAULT_LENGTHS", "DEFAULT_BUDGETS", "plan_runs", "run_prefill_bench",
           "random_table", "hotpot_table", "table"]

DEFAULT_LENGTHS = {"random": (8192, 32768, 131072), "hotpotqa": (7200,)}
"""Document tokens per source when ``lengths`` is not given (hotpotqa: the full prompt of a
7.2k-token haystack, breadcrumbs and template included, fits SmolLM2's 8,192-token window)."""

DEFAULT_BUDGETS = {"random": (1024, 2048, 4096), "hotpotqa": (1024,)}
"""h2mt token budgets per source when ``budgets`` is not given."""


@dataclass
class PrefillBenchOptions:
    """One ``h2mt bench-prefill`` run."""

    source: Literal["random", "hotpotqa"] = "random"  # random-weight shapes | the local generator on HotpotQA
    shape: str = "llama-3.1-8b"  # random: model shape (a key of h2mt.eval.prefill_models.SHAPES)
    quant: tuple[str, ...] = ("nf4", "bf16", "int8")  # random: weight formats, each a row group
    lengths: tuple[int, ...] | None = None  # document tokens (None: DEFAULT_LENGTHS of the source)
    budgets: tuple[int, ...] | None = None  # h2mt budgets (None: DEFAULT_BUDGETS of the source)
    device: str = "auto"  # auto | cpu | cuda
    peak_tflops: float = 989.0  # random: bf16 dense peak of the GPU for the FLOP limit (H100 SXM: 989)
    cache: str | None = None  # random: model cache (None: $H2MT_BENCH_CACHE, else /tmp/h2mt-gpu-models)
    out: str = "bench-results/prefill"  # folder of the rows file
    model: str | None = None  # hotpotqa: generator (None = embedded SmolLM2-135M-Instruct)
    questions: int = 5  # hotpotqa: questions measured after one warm-up answer
    max_new_tokens: int = 16  # hotpotqa: answer length
    data: str | None = None  # hotpotqa: HotpotQA JSONL or the data folder (None: $H2MT_DATA)

    def __post_init__(self) -> None:
        if self.source not in DEFAULT_LENGTHS:
            raise InputError(f"--source must be random or hotpotqa, got {self.source!r}")
        if self.shape not in SHAPES:
            raise InputError(f"Unknown --shape {self.shape!r}; choose one of {', '.join(sorted(SHAPES))}")
        bad = [q for q in self.quant if q not in ("bf16", "nf4", "int8")]
        if bad or not self.quant:
            raise InputError(f"--quant takes bf16, nf4 and int8, comma-separated (got {','.join(self.quant)!r})")

    def model_cache(self) -> str:
        """Where random-weight models are saved."""
        return self.cache or os.environ.get("H2MT_BENCH_CACHE") or "/tmp/h2mt-gpu-models"


def plan_runs(opts: PrefillBenchOptions) -> list[PrefillRun]:
    """Full context per length, then h2mt per (length, budget); per quantization for ``random``."""
    lengths = opts.lengths or DEFAULT_LENGTHS[opts.source]
    budgets = opts.budgets or DEFAULT_BUDGETS[opts.source]
    cells = [("full", n, 0) for n in lengths] + [("h2mt", n, b) for n in lengths for b in budgets]
    quants = opts.quant if opts.source == "random" else ("bf16",)
    return [PrefillRun(opts.source, method, n, b, opts.device, opts.shape, q, opts.model_cache(),  # type: ignore[arg-type]
                       opts.model, opts.questions, opts.max_new_tokens, opts.data)
            for q in quants for method, n, b in cells]


WORKER = f"{__package__}.prefill_worker"
"""The module measuring one run (``python -m h2mt.eval.prefill_worker SPEC.json OUT.json``)."""


def _run_in_process(run: PrefillRun, tmp: Path) -> dict[str, Any]:
    """The row of ``run`` measured in a fresh process; a failed run's row holds its last error line."""
    t0 = time.perf_counter()
    try:
        row = run_module(WORKER, asdict(run), tmp)
    except RunFailed as e:
        row = {"source": run.source, "shape": run.shape, "quant": run.quant, "method": run.method,
               "length": run.length, "budget": run.budget, "error": e.reason}
    row["wall_s"] = time.perf_counter() - t0
    return row


def run_prefill_bench(
    opts: PrefillBenchOptions, on_row: Callable[[dict[str, Any]], None] | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """Run every planned measurement in its own process; returns the rows and the rows file."""
    rows: list[dict[str, Any]] = []
    if opts.source == "random":  # save the model once, before the runs load it
        Path(opts.model_cache()).mkdir(parents=True, exist_ok=True)
        ensure_model(opts.shape, Path(opts.model_cache()))
    elif not data_file(opts.data, HOTPOT_FILE).is_file():
        raise InputError(f"HotpotQA file not found at {data_file(opts.data, HOTPOT_FILE)}; pass --data DIR "
                         "(the folder holding hotpotqa/) or the file itself")
    with tempfile.TemporaryDirectory(prefix="h2mt-prefill-") as tmp:
        for run in plan_runs(opts):
            row = _run_in_process(run, Path(tmp))
            if opts.source == "random":
                row["limit_ms"] = row.get("flops", 0) / (opts.peak_tflops * 1e12) * 1000
            rows.append(row)
            if on_row is not None:
                on_row(row)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"prefill_{opts.source}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows, path


def random_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: TTFT and peak memory per run, the full/h2mt ratios, and the share of the FLOP limit."""
    full = {(r["quant"], r["length"]): r for r in rows if r["method"] == "full" and "error" not in r}
    lines = ["| quant | length | method | budget | prompt tok | route ms | prefill ms | TTFT ms | peak GiB | "
             "TTFT full/h2mt | mem full/h2mt | FLOP-limit ms (% of it reached) |", "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['quant']} | {r['length']} | {r['method']} | {r['budget']} | error: {r['error'][:80]} "
                         "|||||||||")
            continue
        f = full.get((r["quant"], r["length"]))
        ratio_t = f"{f['ttft_ms'] / r['ttft_ms']:.1f}x" if f and r["method"] == "h2mt" else ""
        ratio_m = f"{f['peak_mem_bytes'] / r['peak_mem_bytes']:.2f}x" if f and r["method"] == "h2mt" else ""
        eff = 100 * r["limit_ms"] / r["prefill_ms"] if r["prefill_ms"] else 0
        lines.append(f"| {r['quant']} | {r['length']} | {r['method']} | {r['budget'] or ''} | {r['prompt_tokens']} | "
                     f"{r['route_ms']:.1f} | {r['prefill_ms']:.1f} | {r['ttft_ms']:.1f} | "
                     f"{r['peak_mem_bytes'] / 2**30:.2f} | {ratio_t} | {ratio_m} | {r['limit_ms']:.2f} ({eff:.0f}%) |")
    return "\n".join(lines)


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def hotpot_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: median prompt tokens, prefill, TTFT, route ms and peak RSS per method, then the
    full/h2mt speed-ups per (length, budget)."""
    lines = ["| method | length | budget | questions | prompt tokens | prefill ms | TTFT ms | route ms "
             "| peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['length']} | {r['budget'] or ''} | error: {r['error'][:80]} |||||")
            continue
        peak = r.get("peak_mem_bytes")
        lines.append(f"| {r['method']} | {r['length']} | {r['budget'] or ''} | {r['questions']} "
                     f"| {_fmt(r['prompt_tokens'], '.0f')} | {_fmt(r['prefill_ms'], '.0f')} "
                     f"| {_fmt(r['ttft_ms'], '.0f')} "
                     f"| {_fmt(r['route_ms'], '.1f')} | {_fmt(peak / 2**20 if peak else None, '.0f')} |")
    full = {r["length"]: r for r in rows if r["method"] == "full" and "error" not in r}
    notes = []
    for r in rows:
        f = full.get(r["length"])
        if r["method"] != "h2mt" or "error" in r or f is None or not r["prefill_ms"] or not r["ttft_ms"]:
            continue
        notes.append(f"prefill speed-up full/h2mt: {f['prefill_ms'] / r['prefill_ms']:.1f}x; TTFT speed-up: "
                     f"{f['ttft_ms'] / r['ttft_ms']:.1f}x (medians over {r['questions']} questions, document "
                     f"{f['tokens_total']:.0f} tokens, budget {r['budget']})")
    return "\n".join(lines + ([""] + notes if notes else []))


def table(source: str, rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``source``'s rows."""
    return random_table(rows) if source == "random" else hotpot_table(rows)
