"""Results folder -> ``results.json``, ``results.md`` (methods x budgets x metrics, means with 95%
bootstrap intervals) and ``quality_ttft.png`` (quality against cost per method)."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .metrics import bootstrap_ci
from .results import GENERATION, MEMORY, RUNS, SELECTION, read_rows

__all__ = ["summarize", "write_report", "selection_table", "generation_table", "plot", "method_order"]

log = logging.getLogger(__name__)

QUALITY = ("evidence_all", "evidence_any", "answer_contained")
_ORDER = ("full", "truncation", "bm25", "dense", "llmlingua", "h2mt")


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
                            "f1": _ci(ok, "f1"), "ttft_ms": _ci(ok, "ttft_ms"),
                            "peak_mem_bytes": peak if ok else None}  # a process that answered nothing: no figure
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
            "task": ds.get("task"), "parts": parts, "selection": sel, "generation": gen, "runs": runs[-5:]}


def _fmt_ci(v: list[float] | None) -> str:
    if not v or any(math.isnan(x) for x in v):
        return "–"
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def _fmt_num(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _budget(b: int) -> str:
    return "all" if b == 0 else f"{b:,}"


class _Notes:
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


def selection_table(summary: dict[str, Any], notes: _Notes, part: str = "all") -> str:
    """Markdown: methods x budgets with evidence recall, answer containment and costs."""
    head = ("| method | budget | n | evidence (all) | evidence (any) | answer in context | tokens kept / total "
            "| nodes scored / total | route ms |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for c in (c for c in summary["selection"] if c["part"] == part):
        lines.append(
            f"| {c['method']}{notes.mark(c['errors'])} | {_budget(c['budget'])} | {c['n']} | {_fmt_ci(c['evidence_all'])} "
            f"| {_fmt_ci(c['evidence_any'])} | {_fmt_ci(c['answer_contained'])} "
            f"| {_fmt_num(c['tokens_kept'])} / {_fmt_num(c['tokens_total'])} "
            f"| {_fmt_num(c['nodes_scored'])} / {_fmt_num(c['nodes_total'])} | {_fmt_num(c['route_ms'], 1)} |")
    return "\n".join(lines)


def generation_table(summary: dict[str, Any], notes: _Notes, part: str = "all") -> str:
    """Markdown: methods x budgets with F1, prefill, TTFT and peak memory."""
    head = ("| method | budget | n | F1 | prompt tokens | route ms | prefill ms | TTFT ms | peak memory MiB |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for c in (c for c in summary["generation"] if c["part"] == part):
        peak = c["peak_mem_bytes"]
        lines.append(
            f"| {c['method']}{notes.mark(c['errors'])} | {_budget(c['budget'])} | {c['n']} | {_fmt_ci(c['f1'])} "
            f"| {_fmt_num(c['prompt_tokens'])} | {_fmt_num(c['route_ms'], 1)} | {_fmt_num(c['prefill_ms'])} "
            f"| {_fmt_ci_ms(c['ttft_ms'])} | {_fmt_num(peak / 2**20 if peak else None)} |")
    return "\n".join(lines)


def _fmt_ci_ms(v: list[float] | None) -> str:
    return "–" if not v else f"{v[0]:,.0f} [{v[1]:,.0f}, {v[2]:,.0f}]"


def markdown(summary: dict[str, Any]) -> str:
    """The whole report of one dataset as Markdown."""
    notes = _Notes()
    parts = [f"# h2mt bench: {summary['dataset']}", ""]
    parts += [f"- {n}" for n in summary["notes"]]
    parts += ["", "Means with 95% bootstrap intervals (1,000 resamples, seed 0). Budget `all` = no pruning."]
    parts += _tables(summary, notes, "##")
    if notes.items:
        parts += ["", "Notes:", "", notes.render()]
    return "\n".join(parts) + "\n"


def _tables(summary: dict[str, Any], notes: _Notes, level: str) -> list[str]:
    """Selection (and generation) tables, one per part when the dataset has several."""
    out: list[str] = []
    for part in [*summary["parts"], "all"]:
        suffix = "" if not summary["parts"] else f": {part}"
        out += ["", f"{level} Selection{suffix}", "", selection_table(summary, notes, part)]
    if summary["generation"]:
        for part in [*summary["parts"], "all"]:
            suffix = "" if not summary["parts"] else f": {part}"
            out += ["", f"{level} Generation (greedy, LongBench prompt and F1; TTFT includes selection){suffix}", "",
                    generation_table(summary, notes, part)]
    return out


def plot(summary: dict[str, Any], path: Path) -> Path | None:
    """Quality against cost: evidence recall vs tokens kept, and (with generation) F1 vs TTFT."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    panels = [("selection", "tokens_kept", "evidence_all", "tokens kept", "evidence recall (all)")]
    if summary["generation"]:
        panels.append(("generation", "ttft_ms", "f1", "TTFT ms (mean)", "answer F1 (mean)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
    for ax, (part, xk, yk, xl, yl) in zip(axes[0], panels, strict=True):
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for c in (c for c in summary[part] if c["part"] == "all"):
            x, y = c.get(xk), c.get(yk)
            x = x[0] if isinstance(x, list) else x
            if x is not None and y is not None and not math.isnan(y[0]):
                series[c["method"]].append((float(x), y[0]))
        for m, pts in sorted(series.items(), key=lambda kv: method_order(kv[0])):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=m)
        ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(summary["dataset"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(folder: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``quality_ttft.png`` into ``folder``."""
    f = Path(folder)
    s = summarize(f)
    out = {"json": f / "results.json", "md": f / "results.md"}
    out["json"].write_text(json.dumps(s, indent=1), encoding="utf-8")
    out["md"].write_text(markdown(s), encoding="utf-8")
    png = plot(s, f / "quality_ttft.png")
    if png is not None:
        out["png"] = png
    return out


_SECTION = "## Benchmark harness (h2mt bench)"


def _put_block(text: str, name: str, body: str) -> str:
    """Replace block ``name`` of the harness section, or append it at the end of that section."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        return text[: text.index(start)] + block + text[text.index(end) + len(end):]
    s0 = text.index(_SECTION) + len(_SECTION)
    nxt = re.search(r"^## ", text[s0:], flags=re.M)
    cut = s0 + nxt.start() if nxt else len(text)
    return text[:cut].rstrip() + f"\n\n{block}\n" + ("\n" + text[cut:] if nxt else "")


def update_doc_block(doc: Path, name: str, body: str, intro: str) -> None:
    """Replace (or add) the block for ``name`` inside this harness's section of ``doc`` (and the
    section's introduction), leaving every other section of the file as it is."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if _SECTION not in text:
        text = text.rstrip() + f"\n\n{_SECTION}\n"
    text = _put_block(text, "intro", intro)
    text = _put_block(text, name, body)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


DOC_INTRO = """\
`h2mt bench` measures h2mt against the alternatives a user would pick, side by side in one run,
following DESIGN.md section 4. Everything below can be reproduced with the command shown for
each table (results go to `--results`, default `bench-results/`; built indexes are cached in
`bench-results/cache/`).

- **Same chunks for everyone.** One h2mt index is built per document (or corpus); its leaves,
  with token counts from the generator's tokenizer, are the chunks of every method. `full` keeps
  all leaves; `truncation` keeps leading leaves up to half the budget and trailing leaves with the
  rest (LongBench's rule at leaf granularity); `bm25` (`bm25s`, English stopwords) and `dense`
  (cosine with the index's own leaf embeddings, i.e. the same encoder as h2mt) score every leaf
  over its section title + text and keep the best until the budget is full, back in document
  order; `llmlingua` is LongLLMLingua (`llmlingua` 0.2.2) over the leaves, driven by the local
  model; `h2mt-bK` is h2mt routing with beam width K. Every method's context is formatted with the
  same breadcrumb headings and put into the same LongBench prompt.
- **Metrics.** Evidence recall (HotpotQA: all / any supporting paragraph kept; manuals and niah:
  the normalised evidence sentence is in the kept text), answer containment, and with
  `--generate`: LongBench `qa_f1_score` of greedy answers, route / prefill / TTFT ms (TTFT runs
  from the request, selection included) and peak memory of a fresh process per method (CPU: peak
  RSS; CUDA: `max_memory_allocated`). Means carry 95% bootstrap intervals (1,000 resamples, seed 0).
- **Resumable.** Rows are appended to JSONL files per (dataset, method, budget, question) and
  done keys are skipped; `--limit`, `--methods`, `--budgets` restrict a run; `--report-only`
  rewrites the tables; `--docs docs/benchmarks.md` refreshes this section.

```bash
h2mt bench --dataset hotpotqa-long --length 8k --budgets 512,1024,2048   # selection only
h2mt bench --dataset manuals              # needs: sudo apt-get install -y bash-doc postgresql-doc-15
h2mt bench --dataset hotpotqa-long --length 8k --budgets 2048 \\
    --methods full,truncation,bm25,dense,h2mt,llmlingua --beams 4 --generate   # + F1, TTFT, memory
h2mt bench --dataset hotpotqa-corpus      # one hierarchy over all 500 paragraphs
h2mt bench --dataset longbench --data path/to/hotpotqa.jsonl   # LongBench v1 files you have
h2mt bench --dataset niah --length 8k     # RULER-style needles in the Bash manual
```
"""


def _machine_line(run: dict[str, Any]) -> str:
    end = run.get("machine_end", {})
    m = {**run.get("machine", {}), **{k: end[k] for k in ("torch", "torch_threads", "cuda") if k in end}}
    la = m.get("loadavg") or []
    la_end = end.get("loadavg") or []
    return (f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, torch {m.get('torch', '?')} "
            f"({m.get('torch_threads', '?')} threads), CUDA: {m.get('cuda') or 'none'}; load average "
            f"{', '.join(f'{x:.1f}' for x in la)} at start, {', '.join(f'{x:.1f}' for x in la_end)} at end; {m.get('time')}")


def publish(folder: str | Path, doc: str | Path) -> Path:
    """Copy the plot to ``docs/bench_<dataset>.png`` and put the tables, the commands and the
    machines of the runs into this harness's section of ``doc``."""
    import shutil

    f, d = Path(folder), Path(doc)
    s = summarize(f)
    notes = _Notes()
    lines = [f"### {s['dataset']}", ""] + [f"- {n}" for n in s["notes"]] + [""]
    for r in s["runs"]:
        argv = r.get("options", {}).get("argv") or []
        walls = r.get("generation_s") or {}
        lines += [f"- `{' '.join(argv) or 'h2mt bench'}`: selection {r.get('selection_s', 0):.0f} s "
                  f"(index builds {r.get('index_build_s', 0):.0f} s)"
                  + (f", generation {sum(walls.values()):.0f} s" if walls else "")
                  + f" on {_machine_line(r)}"]
    lines += ["", "Means with 95% bootstrap intervals (1,000 resamples, seed 0); budget `all` = no pruning."]
    lines += _tables(s, notes, "####")
    if notes.items:
        lines += ["", "Notes:", ""] + [f"- {x}" for x in notes.render().splitlines()]
    png = f / "quality_ttft.png"
    if png.exists():
        target = d.parent / f"bench_{s['dataset']}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        lines += ["", f"![{s['dataset']}: quality against cost]({target.name})"]
    update_doc_block(d, s["dataset"], "\n".join(lines), DOC_INTRO)
    return d
