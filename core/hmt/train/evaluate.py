"""Perplexity of long held-out documents: no-memory segments vs sliding window vs HMT vs full context.

All methods score the same targets (every token of a document prefix but the first, each
predicted from what the method lets it see before it):

- ``segments``: the bare backbone reads disjoint chunks of ``window`` tokens, each alone;
- ``sliding``: the bare backbone over windows of ``window`` tokens moved by ``window // 2``;
  every scored token sees at least ``window // 2`` previous tokens;
- ``hmt``: the HMT memory (``window`` = its segment length L) reads segment by segment;
- ``full``: the bare backbone over the whole prefix (only up to its context window).

Each (length, method) runs in a fresh subprocess by default (:func:`h2mt.subprocess_run.run_module`
running this module), so the reported peak RSS is that method's own. Results are JSON plus a Markdown table.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, InputError
from ...subprocess_run import RunFailed, run_module, worker_main

__all__ = ["METHODS", "evaluate_perplexity", "markdown_table", "prepare_eval_docs", "score_method"]

log = logging.getLogger(__name__)

METHODS = ("segments", "sliding", "hmt", "full")
_LOGIT_BLOCK = 1024  # positions whose logits are materialised at once (vocab-sized rows)


def prepare_eval_docs(
    tokenizer: Any, lengths: Sequence[int], n_docs: Sequence[int], eval_fraction: float = 0.1,
    sources: Sequence[str] | None = None, progress: bool = False,
) -> dict[str, Any]:
    """Held-out documents (never trained on) long enough for each length, truncated to it.

    For each length the first ``n_docs`` held-out documents (by name) with at least that many
    tokens are used; returns ``{"lengths": {str(len): [{"name", "ids"}, ...]}}``.
    """
    from .data import load_corpus, split_documents, tokenize_documents

    _, held = split_documents(load_corpus(sources, progress=progress), eval_fraction)
    toks = sorted(tokenize_documents(held, tokenizer), key=lambda d: d.name)
    out: dict[str, Any] = {"eval_fraction": eval_fraction, "held_out_documents": len(toks), "lengths": {}}
    for length, n in zip(lengths, n_docs, strict=True):
        chosen = [d for d in toks if len(d.ids) >= length][:n]
        if not chosen:
            raise InputError(f"no held-out document has {length} tokens; lower the length or raise eval_fraction")
        if len(chosen) < n:
            log.warning("only %d held-out documents have %d tokens (asked %d)", len(chosen), length, n)
        out["lengths"][str(length)] = [{"name": d.name, "ids": list(d.ids[:length])} for d in chosen]
    return out


def _decoder_and_head(backbone: Any) -> tuple[Any, Any]:
    return backbone.get_decoder(), backbone.get_output_embeddings()


def _nll_of_chunk(backbone: Any, ids: Any, targets: Any, score_from: int) -> tuple[float, int]:
    """NLL of ``targets[score_from:]`` given causal passes over ``ids`` (1, l); targets[i] follows ids[i]."""
    import torch.nn.functional as F

    decoder, head = _decoder_and_head(backbone)
    hidden = decoder(input_ids=ids, use_cache=False).last_hidden_state  # (1, l, d), post-norm
    total, count = 0.0, 0
    for a in range(score_from, targets.shape[1], _LOGIT_BLOCK):
        e = min(a + _LOGIT_BLOCK, targets.shape[1])
        logits = head(hidden[:, a:e]).float()  # (1, e - a, V)
        total += float(F.cross_entropy(logits[0], targets[0, a:e], reduction="sum"))
        count += e - a
    del hidden
    return total, count


def score_method(
    method: str, ids: Any, window: int, backbone: Any | None = None, hmt: Any | None = None
) -> tuple[float, int]:
    """``(nll_sum, n_targets)`` of ``method`` on one document ``ids`` (1, T); targets are ids[1:]."""
    import torch

    n = ids.shape[1]
    with torch.no_grad():
        if method == "hmt":
            assert hmt is not None
            out = hmt(ids, labels=ids, return_logits=False)
            return out.nll_sum, out.n_targets
        assert backbone is not None
        if method == "full":
            return _nll_of_chunk(backbone, ids, ids[:, 1:], 0)
        total, count = 0.0, 0
        if method == "segments":
            for a in range(0, n, window):
                e = min(a + window, n)
                t, c = _nll_of_chunk(backbone, ids[:, a:e], ids[:, a + 1 : e + 1], 0)
                total, count = total + t, count + c
            return total, count
        if method == "sliding":
            stride = max(1, window // 2)
            a = 0
            while True:
                e = min(a + window, n)
                score_from = 0 if a == 0 else window - stride
                t, c = _nll_of_chunk(backbone, ids[:, a:e], ids[:, a + 1 : e + 1], score_from)
                total, count = total + t, count + c
                if e >= n:
                    return total, count
                a += stride
    raise ConfigError(f"unknown evaluation method {method!r}; use one of {', '.join(METHODS)}")


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Score one (length, method) in this process; returns ppl, peak RSS and time per 1k tokens."""
    import torch

    from ...resources import peak_memory_bytes, peak_rss_bytes
    from ..artifact import load_backbone

    torch.manual_seed(0)
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    backbone, _, name = load_backbone(spec["model"], spec["device"], spec["dtype"])
    hmt = None
    window = int(spec["window"])
    if spec["method"] == "hmt":
        from ..artifact import load_hmt

        hmt = load_hmt(backbone, spec["memory"])
        window = hmt.config.segment_len
    rss_loaded = peak_rss_bytes()
    docs = spec["docs"]
    total, count, tokens = 0.0, 0, 0
    t0 = time.perf_counter()
    for d in docs:
        ids = torch.tensor([d["ids"]], dtype=torch.long, device=backbone.device)
        t, c = score_method(spec["method"], ids, window, backbone=backbone, hmt=hmt)
        total, count, tokens = total + t, count + c, tokens + ids.shape[1]
    wall = time.perf_counter() - t0
    peak = peak_memory_bytes(backbone.device)
    return {
        "model": name,
        "method": spec["method"],
        "length": spec["length"],
        "window": window,
        "docs": len(docs),
        "doc_names": [d["name"] for d in docs],
        "tokens": tokens,
        "targets": count,
        "nll": total / max(count, 1),
        "ppl": math.exp(total / max(count, 1)),
        "peak_rss_mb": peak / 2**20,
        "rss_after_load_mb": rss_loaded / 2**20,
        "s_per_1k_tokens": wall / (tokens / 1000.0),
        "wall_s": wall,
    }


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown table: one row per (length, method), with the change against ``segments``."""
    base = {r["length"]: r["ppl"] for r in results if r["method"] == "segments" and "ppl" in r}
    lines = [
        "| tokens | method | docs | perplexity | vs segments | peak RSS (MB) | s / 1k tokens |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r["length"], METHODS.index(r["method"]))):
        if "ppl" not in r:
            lines.append(f"| {r['length']} | {r['method']} | – | n/a ({r.get('skipped', 'failed')}) | | | |")
            continue
        rel = f"{100.0 * (r['ppl'] / base[r['length']] - 1):+.1f}%" if r["length"] in base else ""
        lines.append(
            f"| {r['length']} | {r['method']} | {r['docs']} | {r['ppl']:.3f} | {rel} | "
            f"{r['peak_rss_mb']:.0f} | {r['s_per_1k_tokens']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _context_window(model: str | None) -> int:
    from ...backends.resolve import resolve_model
    from ...config import BackendConfig

    cfg = json.loads((resolve_model(BackendConfig(model=model)).path / "config.json").read_text(encoding="utf-8"))
    return int(cfg.get("max_position_embeddings", 0))


def _shipped_for(model: str | None) -> str | None:
    """The shipped memory folder of a generator preset (named after its model), if there is one."""
    from ...backends.presets import get_preset
    from ..artifact import shipped_memories

    preset = get_preset(model) if model else None
    if preset is None:
        return None
    return next((str(f) for f in shipped_memories() if f.name == preset.model_name.lower()), None)


def evaluate_perplexity(
    out_dir: str | os.PathLike[str],
    lengths: Sequence[int] = (2048, 8192, 32768),
    n_docs: Sequence[int] = (4, 3, 2),
    methods: Sequence[str] = METHODS,
    model: str | None = None,
    memory: str | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    window: int | None = None,
    eval_fraction: float = 0.1,
    fresh_process: bool = True,
    progress: bool = True,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Run every (length, method); write ``results.json`` and ``results.md`` into ``out_dir``.

    ``window`` (default: the memory's segment length L) is the baseline window size.
    ``memory`` is an HMT folder (default: the shipped memory for the default generator).
    ``threads`` sets torch's intra-op threads in each run (1 is fastest on a busy shared CPU).
    Finished runs already in ``results.json`` are kept and not redone.
    """
    from tqdm.auto import tqdm

    from ..artifact import default_weights_path, read_meta

    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ConfigError(f"unknown evaluation methods {bad}; use {', '.join(METHODS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mem_path = str(memory or _shipped_for(model) or default_weights_path())
    window = window or int(read_meta(mem_path)["config"]["segment_len"])
    docs_file = out / "eval_docs.json"  # cached tokenized held-out prefixes (reused when they suffice)
    docs = json.loads(docs_file.read_text(encoding="utf-8")) if docs_file.is_file() else None
    if docs is None or docs.get("eval_fraction") != eval_fraction or any(
        len(docs["lengths"].get(str(n), [])) < k for n, k in zip(lengths, n_docs, strict=True)
    ):
        docs = prepare_eval_docs(_tokenizer(model), lengths, n_docs, eval_fraction, progress=progress)
        docs_file.write_text(json.dumps(docs), encoding="utf-8")
    wanted = {str(n): k for n, k in zip(lengths, n_docs, strict=True)}
    ctx = _context_window(model)
    results_file = out / "results.json"
    done = (
        {(r["length"], r["method"]): r for r in json.loads(results_file.read_text())} if results_file.is_file() else {}
    )
    jobs = [(n, m) for n in lengths for m in methods]
    results: list[dict[str, Any]] = [r for key, r in done.items() if key not in jobs and "ppl" in r]
    for length, method in tqdm(jobs, desc="HMT eval", unit="run", disable=not progress):
        if (length, method) in done and "ppl" in done[(length, method)]:
            results.append(done[(length, method)])
            continue
        if method == "full" and ctx and length > ctx:
            results.append({"length": length, "method": method, "skipped": f"> context window {ctx}"})
            continue
        spec = {
            "method": method, "length": length, "model": model, "memory": mem_path, "device": device,
            "dtype": dtype, "window": window, "threads": threads,
            "docs": docs["lengths"][str(length)][: wanted[str(length)]],
        }
        if fresh_process:
            res = _run_subprocess(spec, out / f"run-{length}-{method}")
        else:
            res = run_worker(spec)
        log.info("%s @ %d: %s", method, length, {k: res.get(k) for k in ("ppl", "peak_rss_mb", "s_per_1k_tokens")})
        results.append(res)
        results_file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    results_file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "results.md").write_text(markdown_table(results), encoding="utf-8")
    return results


def _tokenizer(model: str | None) -> Any:
    from ...backends.loading import load_tokenizer_from
    from ...backends.resolve import resolve_model
    from ...config import BackendConfig

    cfg = BackendConfig(model=model)
    return load_tokenizer_from(resolve_model(cfg), cfg)


def _run_subprocess(spec: dict[str, Any], stem: Path) -> dict[str, Any]:
    """:func:`run_worker` of ``spec`` in a fresh process (files ``STEM.spec.json``, ``STEM.result.json``)."""
    try:
        return run_module(f"{__package__}.evaluate", spec, stem.parent, name=stem.name)
    except RunFailed as e:
        log.error("evaluation worker failed: %s\n%s", e, e.stderr_tail[-2000:])
        return {"length": spec["length"], "method": spec["method"], "skipped": "worker failed"}


if __name__ == "__main__":
    sys.exit(worker_main(run_worker))
