"""``h2mt ask`` and ``h2mt route``: one question through an index, printed (dispatch and printing only)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from ..config import (
    AnswerTask,
    BackendConfig,
    H2MTConfig,
    KVConfig,
    MemoryConfig,
    PrefillConfig,
    PrefillMode,
    PromptLayout,
    RouteConfig,
)
from ..errors import ConfigError
from .common import check_device, check_model, choice, default, literal_values, option_names
from .options import (
    BEAM,
    BUDGET,
    INDEX,
    MEMORY_WEIGHT,
    OPTION_NAMES,
    QUESTION,
    crumb,
    index_file,
    question_text,
)

__all__ = ["register", "ask", "route"]


def ask(
    index: Path = INDEX,
    question: str = QUESTION,
    budget: int = BUDGET,
    beam: int = BEAM,
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
        help="Generation limit (0 = the task's: short 48, brief 96, explain 256).",
    ),
    task: str = choice(
        AnswerTask,
        default(PrefillConfig, "task"),
        help="auto: short for a name or value, brief for what/how/why (a short answer not in the kept text "
        "is retried as brief); short: the exact answer; brief: one or two sentences; explain: a few sentences; "
        "chat: the question as a plain chat turn.",
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
        help="What kept leaves become: text, HMT memory embeddings (memory, "
        "hybrid; needs an index built with --memories hmt), or their cached KV (kv: the leaf KV store "
        "beside the index, filled on first use or by h2mt kv build).",
    ),
    recompute_first: int = typer.Option(
        default(KVConfig, "recompute_first"),
        help="With --prefill kv: recompute the first K tokens of every block after the first (EPIC).",
    ),
    recompute_ratio: float = typer.Option(
        default(KVConfig, "recompute_ratio"),
        help="With --prefill kv: recompute this share of the context tokens, chosen by KV deviation "
        "(CacheBlend); 1 = text prefill's result.",
    ),
    kv_adapter: str = typer.Option(
        default(KVConfig, "adapter"),
        help="With --prefill kv: the block-attention adapter on for the question and answer: off, auto (the one "
        "shipped for the generator, if any) or an adapter folder.",
    ),
    layout: str = choice(
        ("auto", *PromptLayout), "auto",
        help="Prompt layout: auto (blocks for --prefill kv, else default), default (the task's), or blocks "
        "(every leaf its own block, the question after the context; kv prefill's layout).",
    ),
    text_leaves: int = typer.Option(
        default(PrefillConfig, "text_leaves"), help="With --prefill hybrid: top leaves kept as text."
    ),
    rerank_leaves: int = typer.Option(
        default(PrefillConfig, "rerank_leaves"),
        help="With --task auto: the generator re-ranks this many leading kept leaves by how likely it finds the "
        "question after each (one forward per leaf) before a brief answer picks its passages; 0 = off.",
    ),
    verdict_first: bool = typer.Option(
        default(PrefillConfig, "verdict_first"), "--verdict-first/--no-verdict-first",
        help="With --task auto: a yes/no question's brief answer starts with the generator's choice between "
        "Yes and No (its first token constrained), the reason generated after it (off by default).",
    ),
    placed_sentences: bool = typer.Option(
        default(PrefillConfig, "placed_sentences"), "--placed-sentences/--no-placed-sentences",
        help="With --task auto: a yes/no, 'what happens' or 'what does X do' question is answered by quoting "
        "the three kept sentences ranked best in their places (each with its heading and entry name, BM25 fused "
        "with the encoder) when the best holds enough of the question (on by default).",
    ),
    quote_defaults: bool = typer.Option(
        default(PrefillConfig, "quote_defaults"), "--quote-defaults/--no-quote-defaults",
        help="With --task auto: a question asking what holds when something is left out ('If I omit the port, "
        "which port...?') is answered by quoting up to two kept sentences ranked best that state a default "
        "(on by default).",
    ),
    quote_unmatched: bool = typer.Option(
        default(PrefillConfig, "quote_unmatched"), "--quote-unmatched/--no-quote-unmatched",
        help="With --task auto: a question no task rule recognises, written in the first person ('my script...', "
        "'I run...') and asking for neither a name nor a symbol, is answered by quoting the three kept sentences "
        "ranked best in their places instead of a generated short answer (on by default).",
    ),
    quote_non_names: bool = typer.Option(
        default(PrefillConfig, "quote_non_names"), "--quote-non-names/--no-quote-non-names",
        help="With --task auto: any other question the generator would answer that is written in the first person "
        "or names code ('my script...', '`set -e`', 'os.path') and asks for neither a name nor a symbol (a value, "
        "a reason, a behaviour) is answered by quoting the three kept sentences ranked best in their places "
        "instead of a generated answer (off by default: no gain measured on blind questions).",
    ),
    quote_places: bool = typer.Option(
        default(PrefillConfig, "quote_places"), "--quote-places/--no-quote-places",
        help="With --task auto: a quoted answer shows each sentence in its place, '<heading or entry>: <sentence>' "
        "('set -e: Exit immediately if...'), the place once for sentences sharing it (off by default: no gain "
        "measured beyond doubt).",
    ),
    quote_retries: bool = typer.Option(
        default(PrefillConfig, "quote_retries"), "--quote-retries/--no-quote-retries",
        help="With --task auto: a short answer that fails its check (an echo of the question, not in the kept "
        "text) to a question asking for neither a symbol nor a name is replaced by the kept sentences "
        "ranked best in their places, instead of being asked again as a brief answer (off by default: no gain "
        "measured on blind questions).",
    ),
    sentence_ranker: bool = typer.Option(
        default(PrefillConfig, "sentence_ranker"), "--sentence-ranker/--no-sentence-ranker",
        help="With --task auto: the kept sentences the quotes and a default value are taken from are re-ranked "
        "by the learned sentence ranker shipped for the index's encoder (off by default: no gain in answers "
        "measured on blind questions).",
    ),
    cross_ranker: bool = typer.Option(
        default(PrefillConfig, "cross_ranker"), "--cross-ranker/--no-cross-ranker",
        help="With --task auto: the kept sentences the quotes, a default value and a generated answer's focus "
        "sentences are taken from are re-ranked by the cross-encoder shipped for the index's encoder (the question "
        "and each of the 24 best sentences read together); instead of --sentence-ranker when both are on.",
    ),
    cross_ranker_scope: str = choice(
        literal_values(PrefillConfig, "cross_ranker_scope"), default(PrefillConfig, "cross_ranker_scope"),
        help="With --cross-ranker: where its order applies: all (quotes, a default value, a generated answer's "
        "focus sentences) or quotes (only the sentences a quote takes, once the fused order has decided to quote).",
    ),
    sentence_pool: float = typer.Option(
        default(PrefillConfig, "sentence_pool"), "--sentence-pool",
        help="With --task auto: the route gathers this many times --budget, and the budget goes to the leaves of the "
        "best-ranked sentences first (with --cross-ranker, in the cross-encoder's order); 1: the route's own "
        "selection.",
    ),
    echo_short_retry: bool = typer.Option(
        default(PrefillConfig, "echo_short_retry"), "--echo-short-retry/--no-echo-short-retry",
        help="With --task auto: a name question's short answer that only echoes the question is asked once more as "
        "a short answer that may not start with the echoed word, before the brief retry (off by default: one more "
        "right answer in 45 echoes measured; local generators).",
    ),
    constrain_names: bool = typer.Option(
        default(PrefillConfig, "constrain_names"), "--constrain-names/--no-constrain-names",
        help="With --task auto: a question asking for a name that no kept entry answers by itself is answered by "
        "the generator's choice among the names of the kept text (constrained decoding) instead of a name it "
        "writes (off by default: fewer right answers measured).",
    ),
    focus_sentences: int = typer.Option(
        default(PrefillConfig, "focus_sentences"), "--focus-sentences",
        help="With --task auto: a short or brief answer the generator writes reads only this many kept sentences "
        "ranked best, each with the sentence before and after it, instead of whole leaves (0: whole leaves; "
        "text prefill only).",
    ),
    memory_weight: float = MEMORY_WEIGHT,
    hmt_weights: str | None = typer.Option(
        None, help="HMT memory folder (default: the index's, else the shipped one)."
    ),
) -> None:
    """Answer QUESTION from the routed part of INDEX, streaming the answer."""
    from ..engine import H2MT

    with option_names(OPTION_NAMES):
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
                rerank_leaves=rerank_leaves,
                verdict_first=verdict_first,
                placed_sentences=placed_sentences,
                quote_defaults=quote_defaults,
                quote_unmatched=quote_unmatched,
                quote_non_names=quote_non_names,
                quote_places=quote_places,
                quote_retries=quote_retries,
                sentence_ranker=sentence_ranker,
                cross_ranker=cross_ranker,
                cross_ranker_scope=cross_ranker_scope,  # type: ignore[arg-type]  # checked by choice()
                sentence_pool=sentence_pool,
                echo_short_retry=echo_short_retry,
                constrain_names=constrain_names,
                focus_sentences=focus_sentences,
                layout=None if layout == "auto" else PromptLayout(layout),
                kv=KVConfig(recompute_first=recompute_first, recompute_ratio=recompute_ratio, adapter=kv_adapter),
            ),
            backend=backend,
            memory=MemoryConfig(weights=hmt_weights),
        )
    question_text(question)
    eng = H2MT.load(index_file(index), cfg)
    _require_memories(eng, cfg)
    stream = eng.stream(question, full=full)
    if not as_json:
        typer.echo("Answer: ", nl=False)
    streamed: list[str] = []
    for piece in stream:
        streamed.append(piece)
        if not as_json:
            typer.echo(piece, nl=False)
            sys.stdout.flush()
    ans = stream.answer
    assert ans is not None
    if not as_json and ans.text.strip() != "".join(streamed).strip():
        # the checked answer differs from the pieces the generator streamed (a cut instruction, a verdict said
        # first, or the kept sentences shown for a generated "not found"): the checked one is the answer
        typer.echo(f"\n\nChecked answer: {ans.text}", nl=False)
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
            f"  [{s.score:.3f}] {crumb(s.node)}  (chars {s.node.start}-{s.node.end}, {s.node.tokens} tok)"
        )
    _print_accounting(ans.accounting.as_dict())


def _require_memories(eng: Any, cfg: H2MTConfig) -> None:
    """A memory prefill or memory routing over an index without memories fails before the model loads."""
    from ..index.memories import require_memories

    if cfg.prefill.mode in (PrefillMode.MEMORY, PrefillMode.HYBRID):
        require_memories(eng.index, f"--prefill {cfg.prefill.mode.value}")
    if cfg.prefill.mode == PrefillMode.KV and cfg.backend.kind != "local":
        raise ConfigError("--prefill kv needs the local generator (its KV cache); drop --server or use --prefill text")
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
    if acc.get("positions_reused") or acc.get("positions_recomputed") or acc.get("kv_misses"):
        typer.echo(
            f"  kv: {acc['positions_reused']} positions reused, {acc['positions_recomputed']} recomputed, "
            f"{acc['kv_bytes_read'] / 2**20:.1f} MiB read, {acc['kv_misses']} kept leaves computed now"
            + (f", adapter {acc['kv_adapter']}" if acc.get("kv_adapter") else "")
        )


def route(
    index: Path = INDEX,
    question: str = QUESTION,
    budget: int = BUDGET,
    beam: int = BEAM,
    show_text: bool = typer.Option(False, "--text", help="Print the kept text too."),
    pruned: int = typer.Option(10, help="How many pruned branches to list (best first; 0 = all)."),
    memory_weight: float = MEMORY_WEIGHT,
) -> None:
    """Show which leaves routing keeps and which branches it prunes (no generation)."""
    from ..engine import H2MT

    with option_names(OPTION_NAMES):
        cfg = H2MTConfig(route=RouteConfig(budget=budget, beam_width=beam, memory_weight=memory_weight))
    question_text(question)
    eng = H2MT.load(index_file(index), cfg)
    _require_memories(eng, cfg)
    r = eng.route(question)
    typer.echo(f"Kept {len(r.kept)} leaves:")
    for k in r.kept:
        typer.echo(f"  [{k.score:.3f}] #{k.node.id} {crumb(k.node)} ({k.node.tokens} tok)")
        if show_text:
            typer.echo("      " + k.node.text.replace("\n", "\n      "))
    shown = r.pruned if pruned <= 0 else r.pruned[:pruned]
    more = f", best {len(shown)} shown (--pruned 0 lists all)" if len(shown) < len(r.pruned) else ""
    typer.echo(f"Pruned branches ({len(r.pruned)}{more}):")
    for p in shown:
        typer.echo(f"  [{p.score:.3f}] #{p.node.id} {crumb(p.node)} ({p.node.tokens} tok)")
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


def register(app: typer.Typer) -> None:
    """Add ``ask`` and ``route`` to the ``h2mt`` app."""
    app.command()(ask)
    app.command()(route)
