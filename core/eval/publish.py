"""Publish a benchmark report: ``results.json``, ``results.md`` and the ``quality_ttft.png`` plot
into the results folder (:func:`write_report`), and the tables, commands and plot into this
harness's section of a Markdown file such as ``docs/benchmarks.md`` (:func:`publish`).

The statistics and tables themselves are :mod:`.report`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from .report import Notes, decoding_line, markdown, method_order, summarize, tables

__all__ = ["write_report", "plot", "publish", "update_doc_block", "DOC_INTRO"]

log = logging.getLogger(__name__)


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
following docs/architecture.md section 4. Everything below can be reproduced with the command shown for
each table (results go to `--results`, default `bench-results/`; built indexes are cached in
`bench-results/cache/`).

- **Same chunks for everyone.** One h2mt index is built per document (or corpus); its leaves,
  with token counts from the generator's tokenizer, are the chunks of every method. `full` keeps
  all leaves; `truncation` keeps leading leaves up to half the budget and trailing leaves with the
  rest (LongBench's rule at leaf granularity); `bm25` (`bm25s`, English stopwords) and `dense`
  (cosine with the index's own leaf embeddings, i.e. the same encoder as h2mt) score every leaf
  over its section title + text and keep the best until the budget is full, back in document
  order; `rrf` is hybrid search, the two rankings fused by reciprocal rank (k = 60); `llmlingua`
  is LongLLMLingua (`llmlingua` 0.2.2) over the leaves, driven by the local model; `h2mt-bK` is
  h2mt routing with beam width K. Every method's context is formatted with the
  same breadcrumb headings and put into the same LongBench prompt.
- **Metrics.** Evidence recall (HotpotQA: all / any supporting paragraph kept; manuals and niah:
  the normalised evidence sentence is in the kept text), answer containment, and with
  `--generate`: LongBench `qa_f1_score` of answers decoded the same way for every method (greedy,
  repetition penalty 1.0, the task's answer length; each report states it), route / prefill /
  TTFT ms (TTFT runs from the request, selection included) and peak memory of a fresh process per
  method (CPU: peak RSS; CUDA: `max_memory_allocated`). Means carry 95% bootstrap intervals
  (1,000 resamples, seed 0).
- **Resumable.** Rows are appended to JSONL files per (dataset, method, budget, question) and
  done keys are skipped; `--limit`, `--methods`, `--budgets` restrict a run; `--report-only`
  rewrites the tables; `--docs docs/benchmarks.md` refreshes this section.

```bash
export H2MT_DATA=../shared/data   # the folder holding hotpotqa/ and manuals/ (or pass --data DIR)
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
    return (f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, "
            f"torch {m.get('torch', '?')} "
            f"({m.get('torch_threads', '?')} threads), CUDA: {m.get('cuda') or 'none'}; load average "
            f"{', '.join(f'{x:.1f}' for x in la)} at start, {', '.join(f'{x:.1f}' for x in la_end)} at end; "
            f"{m.get('time')}")


def publish(folder: str | Path, doc: str | Path) -> Path:
    """Copy the plot to ``docs/bench_<dataset>.png`` and put the tables, the commands and the
    machines of the runs into this harness's section of ``doc``."""
    f, d = Path(folder), Path(doc)
    s = summarize(f)
    notes = Notes()
    lines = [f"### {s['dataset']}", ""] + [f"- {n}" for n in s["notes"]] + [""]
    for r in s["runs"]:
        argv = r.get("options", {}).get("argv") or []
        walls = r.get("generation_s") or {}
        lines += [f"- `{' '.join(argv) or 'h2mt bench'}`: selection {r.get('selection_s', 0):.0f} s "
                  f"(index builds {r.get('index_build_s', 0):.0f} s)"
                  + (f", generation {sum(walls.values()):.0f} s" if walls else "")
                  + f" on {_machine_line(r)}"]
    lines += ["", decoding_line(s),
              "", "Means with 95% bootstrap intervals (1,000 resamples, seed 0); budget `all` = no pruning."]
    lines += tables(s, notes, "####")
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
