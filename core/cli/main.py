"""Command line: ``h2mt build / ask / route / inspect``. Dispatch and printing only."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ..config import BackendConfig, ChunkConfig, EncoderConfig, MemoryConfig, PrefillConfig, RouteConfig
from ..errors import H2MTError

_ROUTE, _CHUNK, _PREFILL, _BACKEND = RouteConfig(), ChunkConfig(), PrefillConfig(), BackendConfig()  # CLI defaults
_MEMORY = MemoryConfig()

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Long-document QA on a local model via a semantic hierarchy.")
_state: dict[str, Any] = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.INFO if verbose or debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _config(budget: int | None = None, beam: int | None = None, model: str | None = None,
            max_new_tokens: int | None = None, quantization: str | None = None, device: str | None = None,
            task: str | None = None) -> Any:
    from ..config import H2MTConfig

    cfg = H2MTConfig()
    if budget is not None or beam is not None:
        cfg.route = RouteConfig(budget=cfg.route.budget if budget is None else budget,
                                beam_width=cfg.route.beam_width if beam is None else beam)
    if max_new_tokens is not None or task is not None:
        cfg.prefill = PrefillConfig(task=task or _PREFILL.task, max_new_tokens=max_new_tokens or 0)  # type: ignore[arg-type]
    cfg.backend = BackendConfig(model=model, quantization=quantization or "auto", device=device or "auto")  # type: ignore[arg-type]
    return cfg


def _crumb(node: Any) -> str:
    from ..query.prompt import CRUMB_SEP

    return CRUMB_SEP.join(p for p in node.path if p) or "(root)"


@app.command()
def build(
    sources: list[Path] = typer.Argument(..., help="Files or folders (text, Markdown, HTML, PDF)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the index file."),
    max_tokens: int = typer.Option(_CHUNK.max_tokens, help="Leaf size limit in generator tokens."),
    encoder: str = typer.Option(EncoderConfig().kind, help="sentence-transformers | hashing | lm-hidden"),
    encoder_model: str | None = typer.Option(None, help="Encoder path (default: embedded all-MiniLM-L6-v2)."),
    model: str | None = typer.Option(None, help="Generator whose tokenizer measures leaves (default: the default preset)."),
    encoder_backend: str = typer.Option(EncoderConfig().backend, help="auto | torch | onnx | onnx-int8 (MiniLM runtime; auto = onnx-int8 on the CPU)."),
    encoder_batch_size: int = typer.Option(EncoderConfig().batch_size, help="Leaves per encoder batch."),
    encoder_batch_tokens: int = typer.Option(EncoderConfig().batch_tokens,
                                             help="ONNX runtimes: padded tokens per encoder batch."),
    ray: bool = typer.Option(False, "--ray", help="Parse, chunk and encode on a Ray cluster (pip install 'h2mt[ray]')."),
    ray_address: str | None = typer.Option(None, help="Ray cluster address with --ray (default: a local Ray)."),
    ray_workers: int = typer.Option(2, help="Encoder actors with --ray (one encoder each)."),
    memories: str = typer.Option(_MEMORY.kind, help="none | hmt (each node also gets an HMT memory made by the generator)."),
    hmt_weights: str | None = typer.Option(None, help="HMT memory folder for --memories hmt (default: the shipped one)."),
    memory_aggregate: str = typer.Option(_MEMORY.aggregate, help="recall (HMT cross-attention) | mean, for internal nodes."),
) -> None:
    """Build a saved hierarchy over SOURCES."""
    from ..config import EncoderConfig
    from ..engine import H2MT

    cfg = _config(model=model)
    cfg.chunk = ChunkConfig(max_tokens=max_tokens, min_tokens=min(24, max_tokens // 4))
    cfg.encoder = EncoderConfig(kind=encoder, model=encoder_model, backend=encoder_backend,  # type: ignore[arg-type]
                                batch_size=encoder_batch_size, batch_tokens=encoder_batch_tokens)
    cfg.memory = MemoryConfig(kind=memories, weights=hmt_weights, aggregate=memory_aggregate)  # type: ignore[arg-type]
    if ray or ray_address:
        from ..index.distributed import RayExecutor

        executor = RayExecutor(address=ray_address, num_workers=ray_workers)
        eng = H2MT.build([str(s) for s in sources], cfg, progress=True, executor=executor)
    else:
        eng = H2MT.build([str(s) for s in sources], cfg, progress=True,
                         backend=eng_backend(cfg) if encoder == "lm-hidden" or memories == "hmt" else None)
    eng.save(output)
    idx = eng.index
    t = idx.meta["build_timings"]
    typer.echo(
        f"wrote {output}: {len(idx.documents)} documents, {len(idx.nodes)} nodes, "
        f"{len(idx.leaves())} leaves, {idx.tokens_total} tokens in {t['total_s']:.1f}s "
        f"(parse {t['parse_s']:.1f}s, chunk {t['chunk_s']:.1f}s, encode {t['encode_s']:.1f}s, tree {t['tree_s']:.1f}s)"
    )


def eng_backend(cfg: Any) -> Any:
    from ..backends import load_backend

    return load_backend(cfg.backend)


@app.command()
def ask(
    index: Path = typer.Argument(..., help="Index file from `h2mt build`."),
    question: str = typer.Argument(..., help="The question."),
    budget: int = typer.Option(_ROUTE.budget, help="Context token budget."),
    beam: int = typer.Option(_ROUTE.beam_width, help="Beam width (branches kept per level)."),
    model: str | None = typer.Option(None, help="Preset (smollm2-135m, qwen2.5-coder-0.5b), HF folder or GGUF file."),
    quantization: str = typer.Option(_BACKEND.quantization, help="auto | none | int8 | nf4"),
    device: str = typer.Option(_BACKEND.device, help="auto | cpu | cuda"),
    max_new_tokens: int = typer.Option(0, help="Generation limit (0 = the task's: short 48, explain 256)."),
    task: str = typer.Option(_PREFILL.task.value, help="short (the exact answer) | explain (a few sentences)."),
    full: bool = typer.Option(False, "--full", help="Skip routing: prefill the whole document (baseline)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    server: str | None = typer.Option(None, help="Generate on an OpenAI-compatible server (http://host:8000/v1); "
                                      "--model then names the local tokenizer that counts its tokens."),
    server_model: str | None = typer.Option(None, help="Model name on --server (default: the first it lists)."),
    prefill: str = typer.Option(_PREFILL.mode.value, help="text | memory | hybrid (kept leaves as HMT memory "
                                "embeddings; needs an index built with --memories hmt)."),
    text_leaves: int = typer.Option(_PREFILL.text_leaves, help="With --prefill hybrid: top leaves kept as text."),
    memory_weight: float = typer.Option(_ROUTE.memory_weight, help="Share of HMT memory search in routing (0 = off)."),
    hmt_weights: str | None = typer.Option(None, help="HMT memory folder (default: the index's, else the shipped one)."),
) -> None:
    """Answer QUESTION from the routed part of INDEX, streaming the answer."""
    from ..engine import H2MT

    cfg = _config(budget, beam, model, max_new_tokens, quantization, device, task)
    cfg.prefill = replace(cfg.prefill, mode=prefill, text_leaves=text_leaves)
    cfg.route = replace(cfg.route, memory_weight=memory_weight)
    cfg.memory = MemoryConfig(weights=hmt_weights)
    if server is not None:  # the key comes from $OPENAI_API_KEY (BackendConfig.api_key_env), never the command line
        cfg.backend = BackendConfig(kind="openai", base_url=server, model=server_model, tokenizer=model)
    eng = H2MT.load(index, cfg)
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
        typer.echo(json.dumps({
            "question": ans.question, "answer": ans.text, "accounting": ans.accounting.as_dict(),
            "sources": [{"id": s.node.id, "path": list(s.node.path), "start": s.node.start, "end": s.node.end,
                         "score": s.score, "source": eng.index.documents[s.node.doc]["source"]} for s in ans.sources],
        }, indent=2))
        return
    typer.echo("\n\nSources:")
    for s in ans.sources:
        typer.echo(f"  [{s.score:.3f}] {_crumb(s.node)}  (chars {s.node.start}-{s.node.end}, {s.node.tokens} tok)")
    _print_accounting(ans.accounting.as_dict())


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
            f"  route {acc['route_ms']:.1f} ms, prefill {_ms(acc['prefill_ms'])}, TTFT {acc['ttft_ms']:.1f} ms, "
            f"total {acc['total_ms']:.1f} ms"
            + (f", peak memory {acc['peak_mem_bytes'] / 2**20:.0f} MiB" if acc.get("peak_mem_bytes") else "")
        )
    else:
        typer.echo(f"  route {acc['route_ms']:.1f} ms")


@app.command()
def route(
    index: Path = typer.Argument(..., help="Index file from `h2mt build`."),
    question: str = typer.Argument(..., help="The question."),
    budget: int = typer.Option(_ROUTE.budget, help="Context token budget."),
    beam: int = typer.Option(_ROUTE.beam_width, help="Beam width (branches kept per level)."),
    show_text: bool = typer.Option(False, "--text", help="Print the kept text too."),
    pruned: int = typer.Option(10, help="How many pruned branches to list."),
    memory_weight: float = typer.Option(_ROUTE.memory_weight, help="Share of HMT memory search in routing (0 = off)."),
) -> None:
    """Show which leaves routing keeps and which branches it prunes (no generation)."""
    from ..engine import H2MT

    cfg = _config(budget, beam)
    cfg.route = replace(cfg.route, memory_weight=memory_weight)
    eng = H2MT.load(index, cfg)
    r = eng.route(question)
    typer.echo(f"Kept {len(r.kept)} leaves:")
    for k in r.kept:
        typer.echo(f"  [{k.score:.3f}] #{k.node.id} {_crumb(k.node)} ({k.node.tokens} tok)")
        if show_text:
            typer.echo("      " + k.node.text.replace("\n", "\n      "))
    typer.echo(f"Pruned branches (best {min(pruned, len(r.pruned))} of {len(r.pruned)}):")
    for p in r.pruned[:pruned]:
        typer.echo(f"  [{p.score:.3f}] #{p.node.id} {_crumb(p.node)} ({p.node.tokens} tok)")
    _print_accounting({"tokens_kept": r.tokens_kept, "tokens_total": r.tokens_total, "kept_ratio": r.kept_ratio,
                       "nodes_scored": r.nodes_scored, "nodes_total": r.nodes_total, "route_ms": r.route_ms})


@app.command()
def add(
    index: Path = typer.Argument(..., help="Index file to update in place."),
    sources: list[Path] = typer.Argument(..., help="Files or folders to add (a source already indexed is replaced)."),
) -> None:
    """Add documents to INDEX without re-encoding the others."""
    from ..engine import H2MT

    eng = H2MT.load(index)
    n = eng.add([str(s) for s in sources], progress=True)
    eng.save(index)
    typer.echo(f"added {n} documents; {index} now holds {len(eng.index.documents)} documents, {len(eng.index.nodes)} nodes")


@app.command()
def remove(
    index: Path = typer.Argument(..., help="Index file to update in place."),
    sources: list[str] = typer.Argument(..., help="Sources to remove, as listed by `h2mt inspect --documents` (any spelling of the same path)."),
) -> None:
    """Remove documents from INDEX."""
    from ..engine import H2MT

    eng = H2MT.load(index)
    n = eng.remove(sources)
    eng.save(index)
    typer.echo(f"removed {n} documents; {index} now holds {len(eng.index.documents)} documents")


@app.command()
def inspect(
    index: Path = typer.Argument(..., help="Index file from `h2mt build`."),
    depth: int = typer.Option(3, help="Outline depth to print."),
    documents: bool = typer.Option(False, "--documents", help="List the documents and their sources instead."),
) -> None:
    """Print the index outline with sizes."""
    from ..index.store import load_index
    from ..types import NodeKind

    idx = load_index(index)
    typer.echo(f"{index}: {len(idx.documents)} documents, {len(idx.nodes)} nodes, {len(idx.leaves())} leaves, "
               f"{idx.tokens_total} tokens, encoder {idx.meta.get('encoder', {}).get('name')}"
               + (f", HMT memories ({idx.meta.get('hmt', {}).get('aggregate', '?')}, "
                  f"{idx.meta.get('hmt', {}).get('dtype', '?')})" if idx.has_memories else ""))
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
    app.add_typer(hmt_app, name="hmt", help="HMT memory: train it for a local LM, evaluate long-input perplexity.")


_register_subcommands()


def main() -> None:
    """Entry point: user errors print one line and exit with the error's code."""
    try:
        app(standalone_mode=False)
    except H2MTError as e:
        if _state["debug"]:
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
