"""Options and input checks shared by the ``h2mt`` commands: the typer options whose defaults come from
the config dataclasses, the API names a config error may speak of, and the cheap checks of a question,
an index path and source paths (run before any model loads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..config import H2MTConfig, RouteConfig
from ..errors import IndexFileError, InputError
from .common import default

# The API names a config error may speak of, and the options a CLI user knows them by.
OPTION_NAMES = {
    "RouteConfig.budget": "--budget",
    "budget=1024": "--budget 1024",
    "RouteConfig.beam_width": "--beam",
    "RouteConfig.memory_weight": "--memory-weight",
    "PrefillConfig.max_new_tokens": "--max-new-tokens",
    "PrefillConfig.text_leaves": "--text-leaves",
    "PrefillConfig.rerank_leaves": "--rerank-leaves",
    "PrefillConfig.focus_sentences": "--focus-sentences",
    "PrefillConfig.sentence_pool": "--sentence-pool",
    "BackendConfig.quantization": "--quantization",
    "BackendConfig(kind='openai') needs base_url=http(s)://HOST:PORT/v1": "--server needs http(s)://HOST:PORT/v1",
    "ChunkConfig.max_tokens": "--max-tokens",
    "EncoderConfig.kind": "--encoder",
    "EncoderConfig.backend": "--encoder-backend",
    "EncoderConfig.batch_size": "--encoder-batch-size",
    "EncoderConfig.batch_tokens": "--encoder-batch-tokens",
    "MemoryConfig.kind": "--memories",
    "MemoryConfig.aggregate": "--memory-aggregate",
    "RayExecutor.num_workers": "--ray-workers",
}
PROGRESS = typer.Option(
    None,
    "--progress/--no-progress",
    help="Progress bars on stderr (default: only when stderr is a terminal).",
)
INDEX = typer.Argument(..., help="Index file from `h2mt build`.")
QUESTION = typer.Argument(..., help="The question.")
BUDGET = typer.Option(default(RouteConfig, "budget"), help="Context token budget.")
BEAM = typer.Option(default(RouteConfig, "beam_width"), help="Beam width (branches kept per level).")
MEMORY_WEIGHT = typer.Option(
    default(RouteConfig, "memory_weight"), help="Share of HMT memory search in routing (0 = off)."
)


def crumb(node: Any) -> str:
    from ..query.prompt import CRUMB_SEP

    return CRUMB_SEP.join(p for p in node.path if p) or "(root)"


def question_text(text: str) -> str:
    if not text.strip():
        raise InputError("The question is empty: ask something about the indexed documents")
    return text


def index_file(path: Path) -> Path:
    """``path`` if it can be an index file; a folder is refused with the index files it holds."""
    if path.is_dir():
        found = sorted(path.glob("*.h2mt"))[:3]
        name = (path.resolve().name or "index") + ".h2mt"
        hint = (
            f"did you mean {' or '.join(str(f) for f in found)}?"
            if found
            else f"give an index file such as {name} (build one with `h2mt build {path} -o {name}`)"
        )
        raise IndexFileError(f"{path} is a folder, not an index file: {hint}")
    return path


def source_paths(paths: list[Path]) -> list[str]:
    """The sources as strings, refusing a missing one before anything loads."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"No such file or folder: {', '.join(missing)}; check the path")
    return [str(p) for p in paths]


def load_generator(cfg: H2MTConfig) -> Any:
    """The generator ``cfg`` names, loaded (after every cheap check has passed)."""
    from ..backends import load_backend

    return load_backend(cfg.backend)
