"""The statistics and tables of a results folder: :func:`summarize` aggregates the rows (means with
95% bootstrap intervals per method x budget), :func:`markdown` and the table functions render them.

Writing the report files, the plot and the docs section is :mod:`.publish`.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .decoding import bench_decoding, describe_decoding
from .metrics import bootstrap_ci
from .results import GENERATION, MEMORY, RUNS, SELECTION, read_rows

__all__ = ["summarize", "markdown", "tables", "selection_table", "generation_table", "decoding_line",
           "method_order", "Notes", "QUALITY", "paired_reference", "paired_cells", "paired_table"]

QUALITY = ("evidence_all", "evidence_any", "answer_contained")
_ORDER = ("full", "truncation", "bm25", "dense", "rrf", "llmlingua", "h2mt")


def method_order(name: str) -> tuple[int, int]:
    """Sort key: the protocol's method order, h2mt beams ascending."""
    base, _, beam = name.partition("-b")
    return (_ORDER.index(base) if base in _ORDER else len(_ORDER), int(beam) if beam.isdigit() else 0)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _ci(rows: Sequence[dict[str, Any]], key: str) -> list[float] | None:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]
    return list(bootstrap_ci(vals)) if vals else None


def _by_cell(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[(r["method"], int(r["budget"]))].append(r)
    return dict(sorted(cells.items(), key=lambda kv: (method_order(kv[0][0]), kv[0][1])))


def _errors(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({str(r["error"]) for r in rows if r.get("error")})


def _selection_cell(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    cell: dict[str, Any] = {"n": len(ok), "errors": _errors(rows), "n_errors": len(rows) - len(ok)}
    for k in QUALITY:
        cell[k] = _ci(ok, k)
    for k in ("tokens_kept", "tokens_total", "nodes_scored", "nodes_total", "route_ms"):
        cell[k] = _mean([float(r[k]) for r in ok if r.get(k) is not None])
    return cell


def _generation_cell(rows: list[dict[str, Any]], peak: int | None) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    cell: dict[str, Any] = {"n": len(ok), "errors": _errors(rows), "n_errors": len(rows) - len(ok),
                            "f1": _ci(ok, "f1"), "rouge_l": _ci(ok, "rouge_l"), "correct": _ci(ok, "correct"),
                            "ttft_ms": _ci(ok, "ttft_ms"),
                            "peak_mem_bytes": peak if ok else None}  # a process answering nothing: no figure
    for k in ("prefill_ms", "route_ms", "prompt_tokens", "tokens_kept", "total_ms"):
        cell[k] = _mean([float(r[k]) for r in ok if r.get(k) is not None])
    return cell


def _peaks(mem: Sequence[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in mem:
        v = m.get("peak_cuda_bytes") or m.get("peak_rss_bytes") or 0
        out[m["method"]] = max(out.get(m["method"], 0), int(v))
    return out


def _parts(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Sub-datasets (e.g. the two manuals) present in ``rows``; ``[]`` when there is only one."""
    parts = sorted({str(r.get("part") or "") for r in rows})
    return parts if len(parts) > 1 else []


def _cells(rows: Sequence[dict[str, Any]], parts: Sequence[str], make: Any) -> list[dict[str, Any]]:
    out = [{"part": "all", "method": m, "budget": b, **make(m, rs)} for (m, b), rs in _by_cell(rows).items()]
    for p in parts:
        mine = [r for r in rows if str(r.get("part") or "") == p]
        out += [{"part": p, "method": m, "budget": b, **make(m, rs)} for (m, b), rs in _by_cell(mine).items()]
    return out


def _decoding(gen_rows: Sequence[dict[str, Any]], max_new_tokens: int | None) -> dict[str, Any]:
    """The decoding settings the answers were made with: each distinct recorded setting with its
    methods; with no answers yet, the benchmark's setting for the task (``planned``)."""
    groups: dict[str, dict[str, Any]] = {}
    for r in gen_rows:
        if r.get("error"):
            continue
        setting = r.get("decoding")
        key = json.dumps(setting, sort_keys=True)
        group = groups.setdefault(key, {"setting": setting, "methods": []})
        if r["method"] not in group["methods"]:
            group["methods"].append(r["method"])
    if groups:
        return {"planned": False, "settings": list(groups.values())}
    planned = bench_decoding(max_new_tokens).as_dict() if max_new_tokens else None
    return {"planned": True, "settings": [{"setting": planned, "methods": []}]}


def paired_reference(method: str) -> str | None:
    """The row a method is compared with, question by question: kv prefill rows with ``h2mt-blocks``
    (text prefill of the same ids); ``None`` for the others."""
    return "h2mt-blocks" if method.startswith("h2mt-kv") else None


def _median(xs: Sequence[float]) -> float | None:
    ys = sorted(xs)
    if not ys:
        return None
    mid = len(ys) // 2
    return ys[mid] if len(ys) % 2 else (ys[mid - 1] + ys[mid]) / 2


def paired_cells(gen_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, budget) with a :func:`paired_reference`: over the questions both answered, the
    mean difference method − reference of F1 and of correct answers with 95% bootstrap intervals,
    the method's median positions prefilled at question time (prompt positions not reused from a
    KV store), and the reference's median TTFT over the method's (the speed-up)."""
    ok = {(r["method"], int(r["budget"]), r["qid"]): r for r in gen_rows if not r.get("error")}
    out: list[dict[str, Any]] = []
    for (method, budget) in sorted({(m, b) for m, b, _ in ok}, key=lambda mb: (method_order(mb[0]), mb[0], mb[1])):
        ref = paired_reference(method)
        if ref is None:
            continue
        pairs = [(r, ok[(ref, budget, q)]) for (m, b, q), r in ok.items()
                 if m == method and b == budget and (ref, budget, q) in ok]
        if not pairs:
            continue
        ttft_m = _median([float(a["ttft_ms"]) for a, _ in pairs if a.get("ttft_ms")])
        ttft_r = _median([float(b["ttft_ms"]) for _, b in pairs if b.get("ttft_ms")])
        out.append({"method": method, "reference": ref, "budget": budget, "n": len(pairs),
                    "f1_diff": list(bootstrap_ci([float(a["f1"]) - float(b["f1"]) for a, b in pairs])),
                    "correct_diff": list(bootstrap_ci([float(a.get("correct", 0)) - float(b.get("correct", 0))
                                                       for a, b in pairs])),
                    "prefilled": _median([float(a["prompt_tokens"]) - float(a.get("positions_reused") or 0)
                                          for a, _ in pairs if a.get("prompt_tokens") is not None]),
                    "ttft_ms": ttft_m, "reference_ttft_ms": ttft_r,
                    "speedup": ttft_r / ttft_m if ttft_m and ttft_r else None})
    return out


def paired_table(summary: dict[str, Any]) -> str:
    """Markdown: each paired comparison (same questions, same routes) with its intervals."""
    head = ("| method | vs | budget | n | ΔF1 [95% CI] | Δcorrect [95% CI] | positions prefilled | median TTFT ms "
            "| vs ms | speed-up |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for c in summary.get("paired", []):
        lines.append(
            f"| {c['method']} | {c['reference']} | {_budget(c['budget'])} | {c['n']} | {_fmt_signed(c['f1_diff'])} "
            f"| {_fmt_signed(c['correct_diff'])} | {_fmt_num(c.get('prefilled'))} | {_fmt_num(c['ttft_ms'])} "
            f"| {_fmt_num(c['reference_ttft_ms'])} "
            f"| {_fmt_speedup(c['speedup'])} |")
    return "\n".join(lines)


def _fmt_speedup(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}×"


def _fmt_signed(v: list[float] | None) -> str:
    if not v or any(math.isnan(x) for x in v):
        return "–"
    return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"


def summarize(folder: str | Path) -> dict[str, Any]:
    """Aggregate every row of a dataset's results folder: cells keyed by (part, method, budget),
    where part ``all`` covers every question and each sub-dataset (``part``) also gets its own."""
    f = Path(folder)
    peaks = _peaks(read_rows(f / MEMORY))
    sel_rows, gen_rows = read_rows(f / SELECTION), read_rows(f / GENERATION)
    parts = _parts(sel_rows + gen_rows)
    sel = _cells(sel_rows, parts, lambda m, rs: _selection_cell(rs))
    gen = _cells(gen_rows, parts, lambda m, rs: _generation_cell(rs, peaks.get(m)))
    runs = read_rows(f / RUNS)
    ds = json.loads((f / "dataset.json").read_text(encoding="utf-8")) if (f / "dataset.json").exists() else {}
    return {"dataset": f.name, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "notes": ds.get("notes", []),
            "task": ds.get("task"), "parts": parts, "decoding": _decoding(gen_rows, ds.get("max_new_tokens")),
            "selection": sel, "generation": gen, "paired": paired_cells(gen_rows), "runs": runs[-5:]}


def decoding_line(summary: dict[str, Any]) -> str:
    """The report's sentence on how the answers were decoded (every report states it)."""
    d = summary.get("decoding") or {"planned": True, "settings": [{"setting": None, "methods": []}]}
    settings = d["settings"]
    if d["planned"]:
        return f"Decoding (with `--generate`), every method: {describe_decoding(settings[0]['setting'])}."
    if len(settings) == 1:
        return f"Decoding, every method: {describe_decoding(settings[0]['setting'])}."
    return "Decoding differs between methods: " + "; ".join(
        f"{', '.join(g['methods'])}: {describe_decoding(g['setting'])}" for g in settings) + "."


def _fmt_ci(v: list[float] | None) -> str:
    if not v or any(math.isnan(x) for x in v):
        return "–"
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def _fmt_num(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _budget(b: int) -> str:
    return "all" if b == 0 else f"{b:,}"


class Notes:
    """Footnotes for error reasons: each distinct reason gets a number."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, errors: Sequence[str]) -> str:
        """`` [n]`` markers for ``errors``."""
        marks = []
        for e in errors:
            if e not in self.items:
                self.items.append(e)
            marks.append(f"[{self.items.index(e) + 1}]")
        return " " + " ".join(marks) if marks else ""

    def render(self) -> str:
        """The footnote list."""
        return "\n".join(f"[{i + 1}] {e}" for i, e in enumerate(self.items))


def selection_table(summary: dict[str, Any], notes: Notes, part: str = "all") -> str:
    """Markdown: methods x budgets with evidence recall, answer containment and costs."""
    head = ("| method | budget | n | evidence (all) | evidence (any) | answer in context "
            "| tokens kept / total | nodes scored / total | route ms |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for c in (c for c in summary["selection"] if c["part"] == part):
        lines.append(
            f"| {c['method']}{notes.mark(c['errors'])} | {_budget(c['budget'])} | {c['n']} "
            f"| {_fmt_ci(c['evidence_all'])} "
            f"| {_fmt_ci(c['evidence_any'])} | {_fmt_ci(c['answer_contained'])} "
            f"| {_fmt_num(c['tokens_kept'])} / {_fmt_num(c['tokens_total'])} "
            f"| {_fmt_num(c['nodes_scored'])} / {_fmt_num(c['nodes_total'])} "
            f"| {_fmt_num(c['route_ms'], 1)} |")
    return "\n".join(lines)


def generation_table(summary: dict[str, Any], notes: Notes, part: str = "all") -> str:
    """Markdown: methods x budgets with F1, ROUGE-L, correct answers, prefill, TTFT and peak memory."""
    head = ("| method | budget | n | F1 | ROUGE-L | correct | prompt tokens | route ms | prefill ms "
            "| TTFT ms | peak memory MiB |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for c in (c for c in summary["generation"] if c["part"] == part):
        peak = c["peak_mem_bytes"]
        lines.append(
            f"| {c['method']}{notes.mark(c['errors'])} | {_budget(c['budget'])} | {c['n']} "
            f"| {_fmt_ci(c['f1'])} | {_fmt_ci(c.get('rouge_l'))} | {_fmt_ci(c.get('correct'))} "
            f"| {_fmt_num(c['prompt_tokens'])} | {_fmt_num(c['route_ms'], 1)} | {_fmt_num(c['prefill_ms'])} "
            f"| {_fmt_ci_ms(c['ttft_ms'])} | {_fmt_num(peak / 2**20 if peak else None)} |")
    return "\n".join(lines)


def _fmt_ci_ms(v: list[float] | None) -> str:
    return "–" if not v else f"{v[0]:,.0f} [{v[1]:,.0f}, {v[2]:,.0f}]"


def markdown(summary: dict[str, Any]) -> str:
    """The whole report of one dataset as Markdown."""
    notes = Notes()
    parts = [f"# h2mt bench: {summary['dataset']}", ""]
    parts += [f"- {n}" for n in summary["notes"]]
    parts += ["", decoding_line(summary),
              "", "Means with 95% bootstrap intervals (1,000 resamples, seed 0). Budget `all` = no pruning."]
    parts += tables(summary, notes, "##")
    if notes.items:
        parts += ["", "Notes:", "", notes.render()]
    return "\n".join(parts) + "\n"


def tables(summary: dict[str, Any], notes: Notes, level: str) -> list[str]:
    """Selection (and generation) tables with ``level`` headings, one per part when the dataset has
    several."""
    out: list[str] = []
    for part in [*summary["parts"], "all"]:
        suffix = "" if not summary["parts"] else f": {part}"
        out += ["", f"{level} Selection{suffix}", "", selection_table(summary, notes, part)]
    if summary["generation"]:
        for part in [*summary["parts"], "all"]:
            suffix = "" if not summary["parts"] else f": {part}"
            title = f"{level} Generation (greedy, LongBench prompt and F1; TTFT includes selection){suffix}"
            out += ["", title, "",
                    generation_table(summary, notes, part)]
    if summary.get("paired"):
        out += ["", f"{level} Paired differences (same questions and routes; bootstrap of the per-question "
                "differences)", "", paired_table(summary)]
    return out
