"""``h2mt kv build | info | prune``: the leaf KV store of an index (dispatch and printing only).

The store sits beside the index (``bash.h2mt`` -> ``bash.h2mt.kv/``), one folder per generator and
shared prefix (docs/kv_cache.md). ``--prefill kv`` fills it lazily; ``kv build`` fills it ahead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import AnswerTask, BackendConfig, H2MTConfig, KVConfig, PrefillConfig
from .common import H2MTGroup, check_model, choice, default, literal_values, option_names, show_progress
from .options import INDEX, OPTION_NAMES, PROGRESS, index_file

__all__ = ["app"]

app = typer.Typer(cls=H2MTGroup, no_args_is_help=True,
                  help="The leaf KV store beside an index: build it ahead of --prefill kv, show it, prune it.")

MODEL = typer.Option(None, callback=check_model, help="Generator (preset, HF folder or GGUF); its caches are kept.")
TASK = choice(AnswerTask, default(PrefillConfig, "task"),
              help="The task whose system message opens the shared prefix (the prefix keys the store).")


def _config(model: str | None, task: str, dtype: str = "float16") -> H2MTConfig:
    with option_names(OPTION_NAMES):
        return H2MTConfig(prefill=PrefillConfig(task=AnswerTask(task), kv=KVConfig(dtype=dtype)),  # type: ignore[arg-type]
                          backend=BackendConfig(model=model))


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _show(info: dict[str, Any]) -> None:
    typer.echo(f"  {info['folder']}: {info['entries']} leaves, {info.get('tokens', '?')} tokens, "
               f"{_mib(info['bytes'])} ({info['dtype']}"
               + (f", {info['bytes_per_token'] / 1024:.1f} KiB/token" if info.get("bytes_per_token") else "") + ")")


@app.command()
def build(
    index: Path = INDEX,
    model: str | None = MODEL,
    task: str = TASK,
    dtype: str = choice(literal_values(KVConfig, "dtype"), default(KVConfig, "dtype"),
                        help="Storage of cached K/V: float16, float32, or int8 (per-channel K, per-token V scales)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Delete this generator's and prefix's entries first."),
    progress: bool | None = PROGRESS,
) -> None:
    """Compute every leaf's KV cache of INDEX once (resumable: stored leaves are skipped)."""
    from ..engine import H2MT

    cfg = _config(model, task, dtype)
    eng = H2MT.load(index_file(index), cfg)
    info = eng.kv_build(progress=show_progress(progress), rebuild=rebuild)
    typer.echo(f"computed {info['computed']} leaves, {info['present']} already stored")
    for folder in info["folders"]:
        _show(folder)


@app.command()
def info(index: Path = INDEX) -> None:
    """Show the KV store of INDEX: one line per generator and prefix (no model is loaded)."""
    from ..query.prefill.kv_store import store_info, store_path

    root = store_path(index_file(index))
    folders = store_info(root)
    if not folders:
        typer.echo(f"{root}: no KV store yet (h2mt kv build {index}, or ask with --prefill kv)")
        return
    typer.echo(f"{root}: {len(folders)} generator/prefix folder{'s' if len(folders) != 1 else ''}, "
               f"{_mib(sum(f['bytes'] for f in folders))}")
    for f in folders:
        typer.echo(f"  {f['folder']}: {f['entries']} leaves, {_mib(f['bytes'])}, {f.get('dtype', '?')}, "
                   f"generator {f.get('generator', '?')}, prefix {f.get('prefix_tokens', '?')} tokens")


@app.command()
def prune(
    index: Path = INDEX,
    model: str | None = MODEL,
    task: str = TASK,
    max_mb: float | None = typer.Option(None, help="Then evict least recently used leaves down to this size."),
) -> None:
    """Delete cached leaves that are no longer in INDEX (and, with --max-mb, the least recently used)."""
    from ..engine import H2MT

    if max_mb is not None and max_mb <= 0:
        raise typer.BadParameter("--max-mb must be > 0")
    eng = H2MT.load(index_file(index), _config(model, task))
    done = eng.kv_prune(max_bytes=None if max_mb is None else int(max_mb * 2**20))
    typer.echo(f"deleted {done['stale']} stale and {done['evicted']} least recently used leaves")
    for folder in done["folders"]:
        _show(folder)
