"""``h2mt hmt``: train an HMT memory for a local causal LM and evaluate it on long documents.

Run as ``python -m h2mt.cli.hmt train|eval ...`` (or ``h2mt hmt ...`` once mounted). Option defaults
are read from :class:`~h2mt.hmt.config.HMTConfig`, :class:`~h2mt.config.BackendConfig` and the
signatures of :func:`~h2mt.hmt.train.trainer.train_hmt` and
:func:`~h2mt.hmt.train.evaluate.evaluate_perplexity`.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..config import BackendConfig
from ..errors import ConfigError
from ..hmt.artifact import HMT_MODEL, export_hmt, load_backbone
from ..hmt.config import HMTConfig
from ..hmt.train.evaluate import METHODS, evaluate_perplexity, markdown_table
from ..hmt.train.trainer import train_hmt
from .common import (
    H2MTGroup,
    check_device,
    check_list,
    check_model,
    choice,
    default,
    literal_values,
    option_names,
    same_names,
    show_progress,
)

__all__ = ["app"]

app = typer.Typer(
    cls=H2MTGroup, help="Hierarchical Memory Transformer: train a memory, evaluate long-input perplexity."
)

log = logging.getLogger(__name__)


def _arg(fn: Callable[..., Any], name: str) -> Any:
    """The default of ``fn``'s parameter ``name``."""
    return inspect.signature(fn).parameters[name].default


def _h(name: str) -> Any:
    return default(HMTConfig, name)


_MODEL_HELP = f"Preset, HF folder or GGUF (default: {HMT_MODEL}, the model the shipped memory is for)."
_PROGRESS_HELP = "tqdm bar (default: only when stderr is a terminal)"
_DTYPES = literal_values(BackendConfig, "dtype")
_TRAIN_OUT = Path("hmt_run")
_EVAL_OUT = Path("hmt_eval")
# HMTConfig fields set by ``train`` options of the same name (a config error names the option)
_TRAIN_FIELDS = (
    "segment_len",
    "sensory_len",
    "cache_size",
    "key_dim",
    "trainable",
    "lora_r",
    "lora_alpha",
    "lora_targets",
    "stage1_steps",
    "stage1_segments",
    "stage2_steps",
    "stage2_segments",
    "bptt_depth",
    "loss_on",
    "lr",
    "lr_step_size",
    "lr_gamma",
    "batch_size",
    "grad_checkpointing",
    "save_every",
    "seed",
)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def train(
    out: Path = typer.Option(_TRAIN_OUT, "--out", help="run folder (checkpoints, log.jsonl, final/)"),
    model: str | None = typer.Option(HMT_MODEL, "--model", callback=check_model, help=_MODEL_HELP),
    device: str = typer.Option(
        default(BackendConfig, "device"),
        "--device",
        callback=check_device,
        help="auto, cpu, cuda, cuda:N or mps",
    ),
    dtype: str = choice(
        _DTYPES, default(BackendConfig, "dtype"), "--dtype", help="auto: bf16 on CUDA, fp32 on the CPU"
    ),
    segment_len: int = typer.Option(_h("segment_len"), help="L: positions per segment pass"),
    sensory_len: int = typer.Option(_h("sensory_len"), help="k: sensory tokens"),
    cache_size: int = typer.Option(_h("cache_size"), help="N: memory cache size"),
    key_dim: int = typer.Option(_h("key_dim"), help="d_h of W_q / W_k"),
    trainable: str = choice(literal_values(HMTConfig, "trainable"), _h("trainable"), help="what is trained"),
    lora_r: int = typer.Option(_h("lora_r"), help="LoRA rank"),
    lora_alpha: int = typer.Option(_h("lora_alpha"), help="LoRA alpha"),
    lora_targets: str = typer.Option(",".join(_h("lora_targets")), help="comma-separated module names"),
    stage1_steps: int = typer.Option(_h("stage1_steps"), help="steps without memory search"),
    stage1_segments: int = typer.Option(_h("stage1_segments"), help="unrolled segments in stage 1"),
    stage2_steps: int = typer.Option(_h("stage2_steps"), help="steps with memory search"),
    stage2_segments: int = typer.Option(
        _h("stage2_segments"), help="unrolled segments in stage 2 (paper: 15)"
    ),
    bptt_depth: int | None = typer.Option(_h("bptt_depth"), help="detach the state every this many segments"),
    loss_on: str = choice(
        literal_values(HMTConfig, "loss_on"), _h("loss_on"), help="LM loss on every segment or the last only"
    ),
    lr: float | None = typer.Option(_h("lr"), help="default 1e-4 (memory/lora), 1e-5 (full)"),
    lr_step_size: int = typer.Option(_h("lr_step_size"), help="StepLR period"),
    lr_gamma: float = typer.Option(_h("lr_gamma"), help="StepLR factor"),
    batch_size: int = typer.Option(_h("batch_size"), help="windows per step"),
    grad_checkpointing: bool = typer.Option(
        _h("grad_checkpointing"), help="recompute activations in backward"
    ),
    save_every: int = typer.Option(_h("save_every"), help="steps between checkpoints"),
    seed: int = typer.Option(_h("seed"), help="random seed"),
    resume: bool = typer.Option(
        _arg(train_hmt, "resume"), "--resume/--no-resume", help="continue from <out>/ckpt"
    ),
    max_minutes: float | None = typer.Option(
        _arg(train_hmt, "max_minutes"), help="stop (checkpointed) after this wall time"
    ),
    eval_fraction: float = typer.Option(
        _arg(train_hmt, "eval_fraction"), help="fraction of documents held out"
    ),
    export: Path | None = typer.Option(None, help="also write the final memory here (see --export-dtype)"),
    export_dtype: str = typer.Option(_arg(export_hmt, "storage_dtype"), help="storage dtype of --export"),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help=_PROGRESS_HELP),
    threads: int | None = typer.Option(
        None, help="torch intra-op threads (1 is fastest on a busy shared CPU)"
    ),
) -> None:
    """Train an HMT memory (stage 1 then stage 2) on the Debian manuals' train documents."""
    with option_names(same_names(HMTConfig, _TRAIN_FIELDS)):
        cfg = HMTConfig(
            segment_len=segment_len,
            sensory_len=sensory_len,
            cache_size=cache_size,
            key_dim=key_dim,
            trainable=trainable,  # type: ignore[arg-type]  # checked by its option
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()),
            stage1_steps=stage1_steps,
            stage1_segments=stage1_segments,
            stage2_steps=stage2_steps,
            stage2_segments=stage2_segments,
            bptt_depth=bptt_depth,
            loss_on=loss_on,  # type: ignore[arg-type]  # checked by its option
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
        backbone,
        tokenizer,
        cfg,
        out,
        eval_fraction=eval_fraction,
        resume=resume,
        max_minutes=max_minutes,
        progress=show_progress(progress),
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


@app.command("eval")
def eval_cmd(
    out: Path = typer.Option(_EVAL_OUT, "--out", help="folder for eval_docs.json, results.json/.md"),
    model: str | None = typer.Option(HMT_MODEL, "--model", callback=check_model, help=_MODEL_HELP),
    memory: str | None = typer.Option(None, "--memory", help="HMT memory folder; default: the shipped one"),
    device: str = typer.Option(
        _arg(evaluate_perplexity, "device"),
        "--device",
        callback=check_device,
        help="auto, cpu, cuda, cuda:N or mps",
    ),
    dtype: str = choice(
        _DTYPES, _arg(evaluate_perplexity, "dtype"), "--dtype", help="auto: bf16 on CUDA, fp32 on the CPU"
    ),
    lengths: str = typer.Option(
        ",".join(map(str, _arg(evaluate_perplexity, "lengths"))),
        help="comma-separated document lengths in tokens",
    ),
    docs: str = typer.Option(
        ",".join(map(str, _arg(evaluate_perplexity, "n_docs"))),
        help="documents per length (comma-separated, same count as --lengths)",
    ),
    methods: str = typer.Option(
        ",".join(_arg(evaluate_perplexity, "methods")),
        callback=check_list(METHODS),
        help=f"subset of {','.join(METHODS)}",
    ),
    window: int | None = typer.Option(
        _arg(evaluate_perplexity, "window"), help="baseline window (default: the memory's segment length)"
    ),
    eval_fraction: float = typer.Option(
        _arg(evaluate_perplexity, "eval_fraction"), help="held-out fraction (must match training)"
    ),
    fresh_process: bool = typer.Option(
        _arg(evaluate_perplexity, "fresh_process"),
        "--fresh-process/--same-process",
        help="one subprocess per run",
    ),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help=_PROGRESS_HELP),
    threads: int | None = typer.Option(
        None, help="torch intra-op threads per run (1 is fastest on a busy CPU)"
    ),
) -> None:
    """Perplexity, peak RSS and time per 1k tokens on held-out long documents; JSON + Markdown."""
    lens = [int(x) for x in lengths.split(",") if x.strip()]
    counts = [int(x) for x in docs.split(",") if x.strip()]
    if len(lens) != len(counts):
        raise ConfigError(
            f"--lengths has {len(lens)} values but --docs has {len(counts)}; give one count per length."
        )
    results = evaluate_perplexity(
        out,
        lens,
        counts,
        methods.split(","),
        model=model,
        memory=memory,
        device=device,
        dtype=dtype,
        window=window,
        eval_fraction=eval_fraction,
        fresh_process=fresh_process,
        progress=show_progress(progress),
        threads=threads,
    )
    typer.echo(markdown_table(results))


if __name__ == "__main__":
    app()
