"""``h2mt bench``, ``h2mt bench-prefill`` and ``h2mt bench-reliability``: the benchmark harnesses on the
command line (dispatch and printing only).

Wire them into the main app with ``register(app)``. Option defaults are read from
:class:`~h2mt.eval.runner.BenchOptions` and :class:`~h2mt.eval.prefill_bench.PrefillBenchOptions`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import InputError
from ..eval.datasets.registry import DATASETS
from ..eval.prefill_bench import PrefillBenchOptions, run_prefill_bench, table
from ..eval.prefill_models import SHAPES
from ..eval.runner import BenchOptions
from .common import check_device, check_model, choice, default, literal_values, show_progress

__all__ = ["register", "bench", "bench_prefill", "bench_reliability"]

_RESULTS = Path(default(BenchOptions, "results"))
_OUT = Path(default(PrefillBenchOptions, "out"))
_MODEL_HELP = "preset (qwen2.5-coder-0.5b, smollm2-135m), HF folder or GGUF (default: the default preset)."


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise InputError(f"--{what} takes comma-separated integers, e.g. 512,1024,2048 (got {text!r})") from e
    if not vals or min(vals) < 1:
        raise InputError(f"--{what} needs at least one positive integer (got {text!r})")
    return vals


def _joined(cls: type, name: str) -> str:
    """A tuple default as the comma-separated text its option takes."""
    return ",".join(str(v) for v in default(cls, name))


def bench(
    dataset: str = choice(DATASETS, default(BenchOptions, "dataset"), help="Benchmark dataset."),
    length: str = typer.Option(
        default(BenchOptions, "length"),
        help="Haystack size for hotpotqa-long, niah and ruler: 8k, 32k, ... (window it must fit).",
    ),
    data: str | None = typer.Option(
        None,
        help="Data folder holding hotpotqa/ and manuals/ (default: $H2MT_DATA), or one "
        "dataset's input file (LongBench: the JSONL; niah: the haystack).",
    ),
    subset: str | None = typer.Option(None, help="manuals: only bash or postgres."),
    task: str | None = typer.Option(
        None, help="longbench: narrativeqa | qasper | hotpotqa | multifieldqa_en; ruler: one task "
        "(niah-single | niah-multikey | niah-multivalue | niah-multiquery | vt; default all five), or one of RULER's "
        "aggregation tasks, asked for by name only: cwe | fwe."
    ),
    budgets: str = typer.Option(_joined(BenchOptions, "budgets"), help="Token budgets, comma-separated."),
    methods: str = typer.Option(
        _joined(BenchOptions, "methods"),
        help="Methods, comma-separated (h2mt = one per --beams; h2mt-b4 = one beam; "
        "h2mt-memory, h2mt-hybrid, h2mt-hybrid-titles, h2mt-mw50: HMT node memories).",
    ),
    beams: str = typer.Option(_joined(BenchOptions, "beams"), help="h2mt beam widths."),
    limit: int | None = typer.Option(default(BenchOptions, "limit"), help="First N questions only."),
    generate: bool = typer.Option(
        default(BenchOptions, "generate"),
        "--generate",
        help="Also generate answers: F1, prefill, TTFT, peak memory.",
    ),
    model: str | None = typer.Option(None, callback=check_model, help=f"Generator: {_MODEL_HELP}"),
    device: str = typer.Option(
        default(BenchOptions, "device"),
        callback=check_device,
        help="Generator device: auto, cpu, cuda, cuda:N or mps.",
    ),
    encoder: str = choice(
        literal_values(BenchOptions, "encoder"),
        default(BenchOptions, "encoder"),
        help="sentence-transformers (MiniLM) or hashing (smoke runs).",
    ),
    results: Path = typer.Option(_RESULTS, help="Results folder (resumable; cache/ holds indexes)."),
    seed: int = typer.Option(default(BenchOptions, "seed"), help="Dataset construction seed."),
    misleading_titles: bool = typer.Option(
        default(BenchOptions, "misleading_titles"), "--misleading-titles",
        help="hotpotqa-long: every paragraph carries another paragraph's title (adversarial headings).",
    ),
    llmlingua_limit: int = typer.Option(
        default(BenchOptions, "llmlingua_limit") or 0,
        help="llmlingua runs on the first N questions only (0 = all; it is slow).",
    ),
    llmlingua_max_tokens: int = typer.Option(
        default(BenchOptions, "llmlingua_max_tokens"),
        help="llmlingua skips larger documents (the reason is recorded).",
    ),
    threads: int | None = typer.Option(
        default(BenchOptions, "threads"), help="torch CPU threads (default: torch's choice)."
    ),
    docs: Path | None = typer.Option(
        None,
        help="Also update this harness's section of a Markdown file "
        "(e.g. docs/benchmarks.md) and copy the plot next to it.",
    ),
    report_only: bool = typer.Option(
        False, "--report-only", help="Only rewrite the report from existing rows."
    ),
    hmt_weights: str | None = typer.Option(
        None,
        help="HMT memory folder for h2mt-memory / h2mt-hybrid / h2mt-mwXX "
        "(default: the one shipped for the generator).",
    ),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bars on stderr (default: only when stderr is a terminal).",
    ),
) -> None:
    """Compare h2mt with full context, truncation, BM25, dense and LongLLMLingua at equal budgets."""
    import sys

    from ..eval.publish import publish, write_report
    from ..eval.runner import prepare, run_bench

    opts = BenchOptions(
        dataset=dataset,
        length=length,
        data=data,
        subset=subset,
        task=task,
        budgets=_ints(budgets, "budgets"),
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        beams=_ints(beams, "beams"),
        limit=limit,
        generate=generate,
        model=model,
        device=device,
        encoder=encoder,  # type: ignore[arg-type]  # checked by its option
        results=str(results),
        seed=seed,
        misleading_titles=misleading_titles,
        llmlingua_limit=llmlingua_limit or None,
        llmlingua_max_tokens=llmlingua_max_tokens,
        threads=threads,
        progress=show_progress(progress),
        argv=["h2mt", *sys.argv[1:]],
        hmt_weights=hmt_weights,
    )
    if report_only:
        from ..backends import load_counter

        _, folder = prepare(opts, load_counter(opts.backend_config()))
    else:
        folder = run_bench(opts)
    paths = write_report(folder)
    typer.echo(paths["md"].read_text(encoding="utf-8"))
    for kind, p in paths.items():
        typer.echo(f"wrote {p} ({kind})")
    if docs is not None:
        typer.echo(f"updated {publish(folder, docs)}")


def bench_prefill(
    source: str = choice(
        literal_values(PrefillBenchOptions, "source"),
        default(PrefillBenchOptions, "source"),
        help="random: random-weight models of real shapes on synthetic text (GPU figures); "
        "hotpotqa: the local generator on HotpotQA.",
    ),
    shape: str = choice(SHAPES, default(PrefillBenchOptions, "shape"), help="random: the model shape."),
    quant: str = typer.Option(
        _joined(PrefillBenchOptions, "quant"), help="random: weight formats, comma-separated: nf4,bf16,int8."
    ),
    lengths: str | None = typer.Option(
        None,
        "--lengths",
        "--length",
        help="Document tokens, comma-separated (random: 8192,32768,131072; hotpotqa: 7200).",
    ),
    budgets: str | None = typer.Option(
        None,
        "--budgets",
        "--budget",
        help="h2mt token budgets, comma-separated (random: 1024,2048,4096; hotpotqa: 1024).",
    ),
    device: str = typer.Option(
        default(PrefillBenchOptions, "device"), callback=check_device, help="auto, cpu, cuda, cuda:N or mps."
    ),
    peak_tflops: float = typer.Option(
        default(PrefillBenchOptions, "peak_tflops"),
        help="random: bf16 dense peak of the GPU (H100 SXM: 989).",
    ),
    cache: str | None = typer.Option(
        None, help="random: model cache (default: $H2MT_BENCH_CACHE or /tmp/h2mt-gpu-models)."
    ),
    out: Path = typer.Option(_OUT, help="Folder of the rows file prefill_<source>.jsonl."),
    model: str | None = typer.Option(None, callback=check_model, help=f"hotpotqa: generator {_MODEL_HELP}"),
    questions: int = typer.Option(
        default(PrefillBenchOptions, "questions"),
        help="hotpotqa: questions measured after one warm-up answer.",
    ),
    max_new_tokens: int = typer.Option(
        default(PrefillBenchOptions, "max_new_tokens"), help="hotpotqa: answer length."
    ),
    data: str | None = typer.Option(
        None, help="hotpotqa: data folder holding hotpotqa/ (default: $H2MT_DATA) or the HotpotQA JSONL."
    ),
) -> None:
    """Prefill cost: full context against h2mt (routing + pruned prefill), one fresh process per run."""
    opts = PrefillBenchOptions(
        source=source,  # type: ignore[arg-type]  # checked by its option
        shape=shape,
        quant=tuple(q.strip() for q in quant.split(",") if q.strip()),
        lengths=_ints(lengths, "lengths") if lengths else None,
        budgets=_ints(budgets, "budgets") if budgets else None,
        device=device,
        peak_tflops=peak_tflops,
        cache=cache,
        out=str(out),
        model=model,
        questions=questions,
        max_new_tokens=max_new_tokens,
        data=data,
    )
    rows, path = run_prefill_bench(opts, on_row=lambda r: typer.echo(json.dumps(r)))
    typer.echo("")
    typer.echo(table(opts.source, rows))
    typer.echo(f"wrote {path}")


def bench_reliability(
    index: Path = typer.Option(
        ..., help="An index of the Bash Reference Manual (h2mt build bashref.html -o bash.h2mt)."
    ),
    data: str | None = typer.Option(
        None, help="Data folder holding manuals/ (default: $H2MT_DATA) or the manual QA JSONL."
    ),
) -> None:
    """Concurrency (8 threads share one pipeline, results equal) and memory (RSS over 500 routes,
    30 answers)."""
    from ..eval.reliability import run_reliability

    for row in run_reliability(index, data):
        typer.echo(json.dumps(row))


def register(app: typer.Typer) -> None:
    """Add the ``bench``, ``bench-prefill`` and ``bench-reliability`` commands to the h2mt app."""
    app.command("bench")(bench)
    app.command("bench-prefill")(bench_prefill)
    app.command("bench-reliability")(bench_reliability)
