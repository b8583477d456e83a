"""``h2mt hmt``: train an HMT memory for a local causal LM and evaluate it on long documents.

Run as ``python -m h2mt.cli.hmt train|eval ...`` (or ``h2mt hmt ...`` once mounted).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from ..errors import H2MTError
from ..hmt.artifact import HMT_MODEL, load_backbone

__all__ = ["app"]

app = typer.Typer(help="Hierarchical Memory Transformer: train a memory, evaluate long-input perplexity.")

log = logging.getLogger(__name__)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def _fail(exc: H2MTError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def train(
    out: Path = typer.Option(Path("hmt_run"), "--out", help="run folder (checkpoints, log.jsonl, final/)"),
    model: str | None = typer.Option(HMT_MODEL, "--model", help="Preset, HF folder or GGUF (default: smollm2-135m, the model the shipped memory is for)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto"),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16"),
    segment_len: int = typer.Option(256, help="L: positions per segment pass"),
    sensory_len: int = typer.Option(32, help="k: sensory tokens"),
    cache_size: int = typer.Option(100, help="N: memory cache size"),
    key_dim: int = typer.Option(1536, help="d_h of W_q / W_k"),
    trainable: str = typer.Option("lora", help="memory, lora or full"),
    lora_r: int = typer.Option(8, help="LoRA rank"),
    lora_alpha: int = typer.Option(16, help="LoRA alpha"),
    lora_targets: str = typer.Option("q_proj,k_proj,v_proj,o_proj", help="comma-separated module names"),
    stage1_steps: int = typer.Option(100, help="steps without memory search"),
    stage1_segments: int = typer.Option(2, help="unrolled segments in stage 1"),
    stage2_steps: int = typer.Option(200, help="steps with memory search"),
    stage2_segments: int = typer.Option(4, help="unrolled segments in stage 2 (paper: 15)"),
    bptt_depth: int | None = typer.Option(None, help="detach the state every this many segments"),
    loss_on: str = typer.Option("all", help="all or last"),
    lr: float | None = typer.Option(None, help="default 1e-4 (memory/lora), 1e-5 (full)"),
    lr_step_size: int = typer.Option(100, help="StepLR period"),
    lr_gamma: float = typer.Option(0.7, help="StepLR factor"),
    batch_size: int = typer.Option(1, help="windows per step"),
    grad_checkpointing: bool = typer.Option(False, help="recompute activations in backward"),
    save_every: int = typer.Option(25, help="steps between checkpoints"),
    seed: int = typer.Option(0, help="random seed"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="continue from <out>/ckpt"),
    max_minutes: float | None = typer.Option(None, help="stop (checkpointed) after this wall time"),
    eval_fraction: float = typer.Option(0.1, help="fraction of documents held out"),
    export: Path | None = typer.Option(None, help="also write the final memory here (see --export-dtype)"),
    export_dtype: str = typer.Option("float16", help="storage dtype of --export"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="tqdm bar"),
    threads: int | None = typer.Option(None, help="torch intra-op threads (1 is fastest on a busy shared CPU)"),
) -> None:
    """Train an HMT memory (stage 1 then stage 2) on the Debian manuals' train documents."""
    try:
        from ..hmt.artifact import export_hmt
        from ..hmt.config import HMTConfig
        from ..hmt.train.trainer import train_hmt

        cfg = HMTConfig(
            segment_len=segment_len,
            sensory_len=sensory_len,
            cache_size=cache_size,
            key_dim=key_dim,
            trainable=trainable,  # type: ignore[arg-type]
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()),
            stage1_steps=stage1_steps,
            stage1_segments=stage1_segments,
            stage2_steps=stage2_steps,
            stage2_segments=stage2_segments,
            bptt_depth=bptt_depth,
            loss_on=loss_on,  # type: ignore[arg-type]
            lr=lr,
            lr_step_size=lr_step_size,
            lr_gamma=lr_gamma,
            batch_size=batch_size,
            grad_checkpointing=grad_checkpointing,
            save_every=save_every,
            seed=seed,
        )
        _set_threads(threads)
        backbone, tokenizer, name = load_backbone(model, device, dtype)
        result = train_hmt(
            backbone, tokenizer, cfg, out, eval_fraction=eval_fraction, resume=resume,
            max_minutes=max_minutes, progress=progress,
        )
        summary = {
            "model": name,
            "steps": result.steps,
            "wall_s": round(result.wall_s, 1),
            "final_loss": result.final_loss,
            "stopped_early": result.stopped_early,
            "final": str(result.final_dir),
        }
        if export is not None:
            summary["export"] = str(export_hmt(result.final_dir, export, export_dtype))
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        typer.echo(json.dumps(summary, indent=2))
    except H2MTError as exc:
        _fail(exc)


@app.command("eval")
def eval_cmd(
    out: Path = typer.Option(Path("hmt_eval"), "--out", help="folder for eval_docs.json, results.json/.md"),
    model: str | None = typer.Option(HMT_MODEL, "--model", help="Preset, HF folder or GGUF (default: smollm2-135m, the model the shipped memory is for)."),
    memory: str | None = typer.Option(None, "--memory", help="HMT memory folder; default: the shipped one"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto"),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32 or bfloat16"),
    lengths: str = typer.Option("2048,8192,32768", help="comma-separated document lengths in tokens"),
    docs: str = typer.Option("4,3,2", help="documents per length (comma-separated, same count as --lengths)"),
    methods: str = typer.Option("segments,sliding,hmt,full", help="subset of segments,sliding,hmt,full"),
    window: int | None = typer.Option(None, help="baseline window (default: the memory's segment length)"),
    eval_fraction: float = typer.Option(0.1, help="held-out fraction (must match training)"),
    fresh_process: bool = typer.Option(True, "--fresh-process/--same-process", help="one subprocess per run"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="tqdm bar"),
    threads: int | None = typer.Option(None, help="torch intra-op threads per run (1 is fastest on a busy CPU)"),
) -> None:
    """Perplexity, peak RSS and time per 1k tokens on held-out long documents; JSON + Markdown."""
    try:
        from ..errors import ConfigError
        from ..hmt.train.evaluate import evaluate_perplexity, markdown_table

        lens = [int(x) for x in lengths.split(",") if x.strip()]
        counts = [int(x) for x in docs.split(",") if x.strip()]
        if len(lens) != len(counts):
            raise ConfigError(f"--lengths has {len(lens)} values but --docs has {len(counts)}; give one count per length.")
        results = evaluate_perplexity(
            out, lens, counts, [m.strip() for m in methods.split(",") if m.strip()], model=model, memory=memory,
            device=device, dtype=dtype, window=window, eval_fraction=eval_fraction, fresh_process=fresh_process,
            progress=progress, threads=threads,
        )
        typer.echo(markdown_table(results))
    except H2MTError as exc:
        _fail(exc)


if __name__ == "__main__":
    app()
