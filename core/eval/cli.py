"""``h2mt bench``: the benchmark harness on the command line (dispatch and printing only).

Wire it into the main app with ``register(app)``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError

__all__ = ["register", "bench"]


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise InputError(f"--{what} takes comma-separated integers, e.g. 512,1024,2048 (got {text!r})") from e
    if not vals or min(vals) < 1:
        raise InputError(f"--{what} needs at least one positive integer (got {text!r})")
    return vals


def bench(
    dataset: str = typer.Option("hotpotqa-long", help="hotpotqa-long | hotpotqa-corpus | manuals | longbench | niah"),
    length: str = typer.Option("8k", help="Haystack size for hotpotqa-long and niah: 8k, 32k, ... (window it must fit)."),
    data: str | None = typer.Option(None, help="Input path overriding the dataset's default (LongBench: the JSONL)."),
    subset: str | None = typer.Option(None, help="manuals: only bash or postgres."),
    task: str | None = typer.Option(None, help="longbench: narrativeqa | qasper | hotpotqa | multifieldqa_en."),
    budgets: str = typer.Option("512,1024,2048,4096", help="Token budgets, comma-separated."),
    methods: str = typer.Option("full,truncation,bm25,dense,llmlingua,h2mt",
                                help="Methods, comma-separated (h2mt = one per --beams; h2mt-b4 = one beam)."),
    beams: str = typer.Option("2,4,8", help="h2mt beam widths."),
    limit: int | None = typer.Option(None, help="First N questions only."),
    generate: bool = typer.Option(False, "--generate", help="Also generate answers: F1, prefill, TTFT, peak memory."),
    model: str | None = typer.Option(None, help="Generator: HF folder or GGUF (default: embedded SmolLM2-135M)."),
    device: str = typer.Option("auto", help="Generator device: auto | cpu | cuda."),
    encoder: str = typer.Option("sentence-transformers", help="sentence-transformers (MiniLM) | hashing (smoke runs)."),
    results: Path = typer.Option(Path("bench-results"), help="Results folder (resumable; cache/ holds indexes)."),
    seed: int = typer.Option(0, help="Dataset construction seed."),
    llmlingua_limit: int = typer.Option(3, help="llmlingua runs on the first N questions only (0 = all; it is slow)."),
    llmlingua_max_tokens: int = typer.Option(16384, help="llmlingua skips larger documents (the reason is recorded)."),
    threads: int | None = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    docs: Path | None = typer.Option(None, help="Also update this harness's section of a Markdown file "
                                                "(e.g. docs/benchmarks.md) and copy the plot next to it."),
    report_only: bool = typer.Option(False, "--report-only", help="Only rewrite the report from existing rows."),
) -> None:
    """Compare h2mt with full context, truncation, BM25, dense and LongLLMLingua at equal budgets."""
    import sys

    from .report import publish, write_report
    from .runner import BenchOptions, prepare, run_bench

    if encoder not in ("sentence-transformers", "hashing"):
        raise InputError(f"--encoder must be sentence-transformers or hashing, got {encoder!r}")
    opts = BenchOptions(
        dataset=dataset, length=length, data=data, subset=subset, task=task, budgets=_ints(budgets, "budgets"),
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()), beams=_ints(beams, "beams"), limit=limit,
        generate=generate, model=model, device=device, encoder=encoder, results=str(results),  # type: ignore[arg-type]
        seed=seed, llmlingua_limit=llmlingua_limit or None, llmlingua_max_tokens=llmlingua_max_tokens,
        threads=threads, argv=["h2mt", *sys.argv[1:]],
    )
    if report_only:
        from ..counting import TokenCounter

        _, folder = prepare(opts, TokenCounter.load(opts.backend_config()))
    else:
        folder = run_bench(opts)
    paths = write_report(folder)
    typer.echo(paths["md"].read_text(encoding="utf-8"))
    for kind, p in paths.items():
        typer.echo(f"wrote {p} ({kind})")
    if docs is not None:
        typer.echo(f"updated {publish(folder, docs)}")


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command to the h2mt command-line app."""
    app.command("bench")(bench)
