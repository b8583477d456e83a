"""Command line: ``h2mt build / ask / route / inspect / add / remove``. Dispatch and printing only.

Every option's default is read from the config dataclass that owns it; every value the command line
can check (fixed choices, a device, a model, an empty question, a missing file, a folder given for an
index) is checked before any model loads (:mod:`h2mt.cli.common`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import typer

from ..config import (
    AnswerTask,
    BackendConfig,
    ChunkConfig,
    EncoderConfig,
    H2MTConfig,
    MemoryConfig,
    PrefillConfig,
    PrefillMode,
    RouteConfig,
)
from ..errors import IndexFileError, InputError
from ..index.distributed import RayExecutor
from .common import (
    H2MTGroup,
    check_device,
    check_model,
    choice,
    default,
    extra,
    literal_values,
    option_names,
    show_progress,
    state,
)

app = typer.Typer(
    cls=H2MTGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Long-document QA on a local model via a semantic hierarchy.",
)

# The API names a config error may speak of, and the options a CLI user knows them by.
_OPTIONS = {
    "RouteConfig.budget": "--budget",
    "budget=1024": "--budget 1024",
    "RouteConfig.beam_width": "--beam",
    "RouteConfig.memory_weight": "--memory-weight",
    "PrefillConfig.max_new_tokens": "--max-new-tokens",
    "PrefillConfig.text_leaves": "--text-leaves",
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
_PROGRESS = typer.Option(
    None,
    "--progress/--no-progress",
    help="Progress bars on stderr (default: only when stderr is a terminal).",
)
_INDEX = typer.Argument(..., help="Index file from `h2mt build`.")
_QUESTION = typer.Argument(..., help="The question.")
_BUDGET = typer.Option(default(RouteConfig, "budget"), help="Context token budget.")
_BEAM = typer.Option(default(RouteConfig, "beam_width"), help="Beam width (branches kept per level).")
_MEMORY_WEIGHT = typer.Option(
    default(RouteConfig, "memory_weight"), help="Share of HMT memory search in routing (0 = off)."
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose or debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _crumb(node: Any) -> str:
    from ..query.prompt import CRUMB_SEP

    return CRUMB_SEP.join(p for p in node.path if p) or "(root)"


def _question(text: str) -> str:
    if not text.strip():
        raise InputError("The question is empty: ask something about the indexed documents")
    return text


def _index_file(path: Path) -> Path:
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


def _sources(paths: list[Path]) -> list[str]:
    """The sources as strings, refusing a missing one before anything loads."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"No such file or folder: {', '.join(missing)}; check the path")
    return [str(p) for p in paths]


@app.command()
def build(
    sources: list[Path] = typer.Argument(..., help="Files or folders (text, Markdown, HTML, PDF)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the index file."),
    max_tokens: int = typer.Option(
        default(ChunkConfig, "max_tokens"), help="Leaf size limit in generator tokens."
    ),
    encoder: str = choice(
        literal_values(EncoderConfig, "kind"),
        default(EncoderConfig, "kind"),
        help="Node encoder (hashing: deterministic, no model; smoke runs).",
    ),
    encoder_model: str | None = typer.Option(None, help="Encoder path (default: embedded all-MiniLM-L6-v2)."),
    model: str | None = typer.Option(
        None,
        callback=check_model,
        help="Generator whose tokenizer measures leaves (default: the default preset).",
    ),
    encoder_backend: str = choice(
        literal_values(EncoderConfig, "backend"),
        default(EncoderConfig, "backend"),
        help="MiniLM runtime (auto = onnx-int8 on the CPU).",
    ),
    encoder_batch_size: int = typer.Option(
        default(EncoderConfig, "batch_size"), help="Leaves per encoder batch."
    ),
    encoder_batch_tokens: int = typer.Option(
        default(EncoderConfig, "batch_tokens"), help="ONNX runtimes: padded tokens per encoder batch."
    ),
    ray: bool = typer.Option(
        False, "--ray", help=f"Parse, chunk and encode on a Ray cluster ({extra('ray')})."
    ),
    ray_address: str | None = typer.Option(
        None, help="Ray cluster address with --ray (default: a local Ray)."
    ),
    ray_workers: int = typer.Option(
        default(RayExecutor, "num_workers"), help="Encoder actors with --ray (one encoder each)."
    ),
    memories: str = choice(
        literal_values(MemoryConfig, "kind"),
        default(MemoryConfig, "kind"),
        help="hmt: each node also gets an HMT memory made by the generator.",
    ),
    hmt_weights: str | None = typer.Option(
        None, help="HMT memory folder for --memories hmt (default: the shipped one)."
    ),
    memory_aggregate: str = choice(
        literal_values(MemoryConfig, "aggregate"),
        default(MemoryConfig, "aggregate"),
        help="Internal nodes: recall (HMT cross-attention) or mean.",
    ),
    progress: bool | None = _PROGRESS,
) -> None:
    """Build a saved hierarchy over SOURCES."""
    from ..engine import H2MT

    with option_names(_OPTIONS):
        cfg = H2MTConfig(
            chunk=ChunkConfig(
                max_tokens=max_tokens, min_tokens=min(default(ChunkConfig, "min_tokens"), max_tokens // 4)
            ),
            encoder=EncoderConfig(  # the Literal fields were checked by the options' callbacks
                kind=encoder,  # type: ignore[arg-type]
                model=encoder_model,
                backend=encoder_backend,  # type: ignore[arg-type]
                batch_size=encoder_batch_size,
                batch_tokens=encoder_batch_tokens,
            ),
            memory=MemoryConfig(kind=memories, weights=hmt_weights, aggregate=memory_aggregate),  # type: ignore[arg-type]
            backend=BackendConfig(model=model),
        )
        executor = RayExecutor(address=ray_address, num_workers=ray_workers) if ray or ray_address else None
    paths = _sources(sources)
    bars = show_progress(progress)
    if executor is not None:
        eng = H2MT.build(paths, cfg, progress=bars, executor=executor)
    else:  # parse first: a bad source fails before the encoder and the tokenizer load
        from ..index.build import parse_sources

        t0 = time.perf_counter()
        docs = parse_sources(paths)
        parse_s = time.perf_counter() - t0
        backend = _load_backend(cfg) if encoder == "lm-hidden" or memories == "hmt" else None
        eng = H2MT.build(docs, cfg, progress=bars, backend=backend)
        timings = eng.index.meta["build_timings"]
        timings["parse_s"] = parse_s
        timings["total_s"] += parse_s
    eng.save(output)
    idx = eng.index
    t = idx.meta["build_timings"]
    typer.echo(
        f"wrote {output}: {len(idx.documents)} documents, {len(idx.nodes)} nodes, "
        f"{len(idx.leaves())} leaves, {idx.tokens_total} tokens in {t['total_s']:.1f}s "
        f"(parse {t['parse_s']:.1f}s, chunk {t['chunk_s']:.1f}s, encode {t['encode_s']:.1f}s, "
        f"tree {t['tree_s']:.1f}s)"
    )


def _load_backend(cfg: H2MTConfig) -> Any:
    from ..backends import load_backend

    return load_backend(cfg.backend)


@app.command()
def ask(
    index: Path = _INDEX,
    question: str = _QUESTION,
    budget: int = _BUDGET,
    beam: int = _BEAM,
    model: str | None = typer.Option(
        None, callback=check_model, help="Preset (qwen2.5-coder-0.5b, smollm2-135m), HF folder or GGUF file."
    ),
    quantization: str = choice(
        literal_values(BackendConfig, "quantization"),
        default(BackendConfig, "quantization"),
        help="Weights format (auto = nf4 on CUDA, none on the CPU).",
    ),
    device: str = typer.Option(
        default(BackendConfig, "device"), callback=check_device, help="auto, cpu, cuda, cuda:N or mps."
    ),
    max_new_tokens: int = typer.Option(
        default(PrefillConfig, "max_new_tokens"),
        help="Generation limit (0 = the task's: short 48, explain 256).",
    ),
    task: str = choice(
        AnswerTask,
        default(PrefillConfig, "task"),
        help="short: the exact answer; explain: a few sentences; chat: the question as a plain chat turn.",
    ),
    full: bool = typer.Option(False, "--full", help="Skip routing: prefill the whole document (baseline)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    server: str | None = typer.Option(
        None,
        help="Generate on an OpenAI-compatible server (http://host:8000/v1); "
        "--model then names the local tokenizer that counts its tokens.",
    ),
    server_model: str | None = typer.Option(
        None, help="Model name on --server (default: the first it lists)."
    ),
    prefill: str = choice(
        PrefillMode,
        default(PrefillConfig, "mode"),
        help="What kept leaves become: text, or HMT memory embeddings (memory, "
        "hybrid; needs an index built with --memories hmt).",
    ),
    text_leaves: int = typer.Option(
        default(PrefillConfig, "text_leaves"), help="With --prefill hybrid: top leaves kept as text."
    ),
    memory_weight: float = _MEMORY_WEIGHT,
    hmt_weights: str | None = typer.Option(
        None, help="HMT memory folder (default: the index's, else the shipped one)."
    ),
) -> None:
    """Answer QUESTION from the routed part of INDEX, streaming the answer."""
    from ..engine import H2MT

    with option_names(_OPTIONS):
        if server is not None:  # the key comes from $OPENAI_API_KEY (BackendConfig.api_key_env), not argv
            backend = BackendConfig(kind="openai", base_url=server, model=server_model, tokenizer=model)
        else:
            backend = BackendConfig(model=model, quantization=quantization, device=device)  # type: ignore[arg-type]
        cfg = H2MTConfig(
            route=RouteConfig(budget=budget, beam_width=beam, memory_weight=memory_weight),
            prefill=PrefillConfig(
                task=AnswerTask(task),
                max_new_tokens=max_new_tokens,
                mode=PrefillMode(prefill),
                text_leaves=text_leaves,
            ),
            backend=backend,
            memory=MemoryConfig(weights=hmt_weights),
        )
    _question(question)
    eng = H2MT.load(_index_file(index), cfg)
    _require_memories(eng, cfg)
    stream = eng.stream(question, full=full)
    if not as_json:
        typer.echo("Answer: ", nl=False)
    for piece in stream:
        if not as_json:
            typer.echo(piece, nl=False)
            sys.stdout.flush()
    ans = stream.answer
    assert ans is not None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "question": ans.question,
                    "answer": ans.text,
                    "accounting": ans.accounting.as_dict(),
                    "sources": [
                        {
                            "id": s.node.id,
                            "path": list(s.node.path),
                            "start": s.node.start,
                            "end": s.node.end,
                            "score": s.score,
                            "source": eng.index.documents[s.node.doc]["source"],
                            "text": s.node.text,
                        }
                        for s in ans.sources
                    ],
                },
                indent=2,
            )
        )
        return
    typer.echo("\n\nSources:")
    for s in ans.sources:
        typer.echo(
            f"  [{s.score:.3f}] {_crumb(s.node)}  (chars {s.node.start}-{s.node.end}, {s.node.tokens} tok)"
        )
    _print_accounting(ans.accounting.as_dict())


def _require_memories(eng: Any, cfg: H2MTConfig) -> None:
    """A memory prefill or memory routing over an index without memories fails before the model loads."""
    from ..index.memories import require_memories

    if cfg.prefill.mode != PrefillMode.TEXT:
        require_memories(eng.index, f"--prefill {cfg.prefill.mode.value}")
    if cfg.route.memory_weight > 0:
        require_memories(eng.index, "--memory-weight > 0")


def _ms(value: float | None) -> str:
    """A time in ms, or ``n/a`` when the model did not report it (a server's prefill)."""
    return "n/a" if value is None else f"{value:.1f} ms"


def _print_accounting(acc: dict[str, Any]) -> None:
    typer.echo("Accounting:")
    typer.echo(
        f"  tokens kept {acc['tokens_kept']} / {acc['tokens_total']} ({100 * acc['kept_ratio']:.2f}%), "
        + (f"prompt {acc['prompt_tokens']} tok, " if acc.get("prompt_tokens") is not None else "")
        + f"nodes scored {acc['nodes_scored']} / {acc['nodes_total']}"
    )
    if "prefill_ms" in acc:
        typer.echo(
            f"  route {acc['route_ms']:.1f} ms, prefill {_ms(acc['prefill_ms'])}, "
            f"TTFT {acc['ttft_ms']:.1f} ms, "
            f"total {acc['total_ms']:.1f} ms"
            + (f", peak memory {acc['peak_mem_bytes'] / 2**20:.0f} MiB" if acc.get("peak_mem_bytes") else "")
        )
    else:
        typer.echo(f"  route {acc['route_ms']:.1f} ms")


@app.command()
def route(
    index: Path = _INDEX,
    question: str = _QUESTION,
    budget: int = _BUDGET,
    beam: int = _BEAM,
    show_text: bool = typer.Option(False, "--text", help="Print the kept text too."),
    pruned: int = typer.Option(10, help="How many pruned branches to list (best first; 0 = all)."),
    memory_weight: float = _MEMORY_WEIGHT,
) -> None:
    """Show which leaves routing keeps and which branches it prunes (no generation)."""
    from ..engine import H2MT

    with option_names(_OPTIONS):
        cfg = H2MTConfig(route=RouteConfig(budget=budget, beam_width=beam, memory_weight=memory_weight))
    _question(question)
    eng = H2MT.load(_index_file(index), cfg)
    _require_memories(eng, cfg)
    r = eng.route(question)
    typer.echo(f"Kept {len(r.kept)} leaves:")
    for k in r.kept:
        typer.echo(f"  [{k.score:.3f}] #{k.node.id} {_crumb(k.node)} ({k.node.tokens} tok)")
        if show_text:
            typer.echo("      " + k.node.text.replace("\n", "\n      "))
    shown = r.pruned if pruned <= 0 else r.pruned[:pruned]
    more = f", best {len(shown)} shown (--pruned 0 lists all)" if len(shown) < len(r.pruned) else ""
    typer.echo(f"Pruned branches ({len(r.pruned)}{more}):")
    for p in shown:
        typer.echo(f"  [{p.score:.3f}] #{p.node.id} {_crumb(p.node)} ({p.node.tokens} tok)")
    _print_accounting(
        {
            "tokens_kept": r.tokens_kept,
            "tokens_total": r.tokens_total,
            "kept_ratio": r.kept_ratio,
            "nodes_scored": r.nodes_scored,
            "nodes_total": r.nodes_total,
            "route_ms": r.route_ms,
        }
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@app.command()
def add(
    index: Path = typer.Argument(..., help="Index file to update in place."),
    sources: list[Path] = typer.Argument(
        ..., help="Files or folders to add (a source already indexed is replaced)."
    ),
    progress: bool | None = _PROGRESS,
) -> None:
    """Add documents to INDEX without re-encoding the others."""
    from ..engine import H2MT
    from ..index.build import parse_sources

    paths = _sources(sources)
    eng = H2MT.load(_index_file(index))
    docs = parse_sources(paths)  # a bad source fails before the encoder and the tokenizer load
    before = len(eng.index.documents)
    n = eng.add(docs, progress=show_progress(progress))
    eng.save(index)
    replaced = before + n - len(eng.index.documents)  # each replaced document left the index once
    done = [f"added {_plural(n - replaced, 'document')}"] if n > replaced else []
    done += [f"replaced {_plural(replaced, 'document')}"] if replaced else []
    typer.echo(
        f"{' and '.join(done)}; {index} now holds {_plural(len(eng.index.documents), 'document')}, "
        f"{len(eng.index.nodes)} nodes"
    )


@app.command()
def remove(
    index: Path = typer.Argument(..., help="Index file to update in place."),
    sources: list[str] = typer.Argument(
        ...,
        help="Sources to remove, as listed by `h2mt inspect --documents` (any spelling of the same path).",
    ),
) -> None:
    """Remove documents from INDEX."""
    from ..engine import H2MT

    eng = H2MT.load(_index_file(index))
    n = eng.remove(sources)
    eng.save(index)
    typer.echo(f"removed {n} documents; {index} now holds {len(eng.index.documents)} documents")


@app.command()
def inspect(
    index: Path = _INDEX,
    depth: int = typer.Option(3, help="Outline depth to print."),
    documents: bool = typer.Option(
        False, "--documents", help="List the documents and their sources instead."
    ),
) -> None:
    """Print the index outline with sizes."""
    from ..index.store import load_index
    from ..types import NodeKind

    idx = load_index(_index_file(index))
    typer.echo(
        f"{index}: {len(idx.documents)} documents, {len(idx.nodes)} nodes, {len(idx.leaves())} leaves, "
        f"{idx.tokens_total} tokens, encoder {idx.meta.get('encoder', {}).get('name')}"
        + (
            f", HMT memories ({idx.meta.get('hmt', {}).get('aggregate', '?')}, "
            f"{idx.meta.get('hmt', {}).get('dtype', '?')})"
            if idx.has_memories
            else ""
        )
    )
    if documents:
        for d, node_id in zip(idx.documents, idx.root.children, strict=True):
            typer.echo(f"  {d['source']}  [{d.get('title', '')}, {idx.nodes[node_id].tokens} tok]")
        return

    def walk(nid: int) -> None:
        n = idx.nodes[nid]
        if n.kind == NodeKind.LEAF or n.depth > depth:
            return
        label = n.title or f"({n.kind.value})"
        leaves = sum(1 for c in n.children if idx.nodes[c].kind == NodeKind.LEAF)
        typer.echo(f"{'  ' * n.depth}{label}  [{n.tokens} tok, {len(n.children)} children, {leaves} leaves]")
        for c in n.children:
            walk(c)

    walk(0)


def _register_subcommands() -> None:
    from .bench import register
    from .hmt import app as hmt_app

    register(app)
    app.add_typer(
        hmt_app, name="hmt", help="HMT memory: train it for a local LM, evaluate long-input perplexity."
    )


_register_subcommands()


def main() -> None:
    """Entry point: a user error prints one line and exits with its code (:class:`H2MTGroup`)."""
    app()


if __name__ == "__main__":
    main()
