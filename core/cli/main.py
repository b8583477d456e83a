"""Command line: the ``h2mt`` app, ``build / inspect / add / remove``, and the other commands registered
(``ask``/``route`` in :mod:`.ask`, ``bench*`` in :mod:`.bench`, ``hmt`` in :mod:`.hmt`, ``serve`` in :mod:`.serve`).
Dispatch and printing only.

Every option's default is read from the config dataclass that owns it; every value the command line
can check (fixed choices, a device, a model, an empty question, a missing file, a folder given for an
index) is checked before any model loads (:mod:`h2mt.cli.common`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer

from ..config import (
    BackendConfig,
    ChunkConfig,
    EncoderConfig,
    H2MTConfig,
    MemoryConfig,
)
from ..index.distributed import RayExecutor
from .common import (
    H2MTGroup,
    check_model,
    choice,
    default,
    extra,
    literal_values,
    option_names,
    show_progress,
    state,
)
from .options import INDEX, OPTION_NAMES, PROGRESS, index_file, load_generator, source_paths

app = typer.Typer(
    cls=H2MTGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Long-document QA on a local model via a semantic hierarchy.",
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
    progress: bool | None = PROGRESS,
) -> None:
    """Build a saved hierarchy over SOURCES."""
    from ..engine import H2MT

    with option_names(OPTION_NAMES):
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
    paths = source_paths(sources)
    bars = show_progress(progress)
    if executor is not None:
        eng = H2MT.build(paths, cfg, progress=bars, executor=executor)
    else:  # parse first: a bad source fails before the encoder and the tokenizer load
        from ..index.build import parse_sources

        t0 = time.perf_counter()
        docs = parse_sources(paths)
        parse_s = time.perf_counter() - t0
        backend = load_generator(cfg) if encoder == "lm-hidden" or memories == "hmt" else None
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@app.command()
def add(
    index: Path = typer.Argument(..., help="Index file to update in place."),
    sources: list[Path] = typer.Argument(
        ..., help="Files or folders to add (a source already indexed is replaced)."
    ),
    progress: bool | None = PROGRESS,
) -> None:
    """Add documents to INDEX without re-encoding the others."""
    from ..engine import H2MT
    from ..index.build import parse_sources

    paths = source_paths(sources)
    eng = H2MT.load(index_file(index))
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

    eng = H2MT.load(index_file(index))
    n = eng.remove(sources)
    eng.save(index)
    typer.echo(f"removed {n} documents; {index} now holds {len(eng.index.documents)} documents")


@app.command()
def inspect(
    index: Path = INDEX,
    depth: int = typer.Option(3, help="Outline depth to print."),
    documents: bool = typer.Option(
        False, "--documents", help="List the documents and their sources instead."
    ),
) -> None:
    """Print the index outline with sizes."""
    from ..index.store import load_index
    from ..types import NodeKind

    idx = load_index(index_file(index))
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
    from .ask import register as register_ask
    from .bench import register
    from .hmt import app as hmt_app
    from .kv import app as kv_app
    from .serve import register as register_serve

    register_ask(app)
    register(app)
    register_serve(app)
    app.add_typer(kv_app, name="kv", help="The leaf KV store beside an index (--prefill kv): build, info, prune.")
    app.add_typer(
        hmt_app, name="hmt", help="HMT memory: train it for a local LM, evaluate long-input perplexity."
    )


_register_subcommands()


def main() -> None:
    """Entry point: a user error prints one line and exits with its code (:class:`H2MTGroup`)."""
    app()


if __name__ == "__main__":
    main()
