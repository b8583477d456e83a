"""Evidence kept by h2mt's route, BM25 and dense retrieval on the answer sets (issue 25's question files).

Every question of the given files (``tests/data/answer_dev.jsonl``, ``answer_heldout*.jsonl``) is
routed over its document group's index (the indexes ``scripts/answer_eval.py`` builds under
``--index-dir``) by the benchmark's own methods (``h2mt.eval.methods``: h2mt at the default beam,
``bm25``, ``dense``) at one budget; a row per question records whether each method's kept text
holds the evidence sentence (``h2mt.eval.metrics.evidence_kept``) and the selection time. No
generator is loaded. ``--score`` prints the recall per method, per file group and per question
type, with paired bootstrap intervals of h2mt minus each flat method.

    .venv/bin/python scripts/answer_routes.py --budget 1024 --out /tmp/routes_1024.jsonl tests/data/answer_*.jsonl
    .venv/bin/python scripts/answer_routes.py --score /tmp/routes_1024.jsonl

``--whole-docs`` routes the postgres and python questions over the whole manuals, as
``scripts/answer_eval.py --whole-docs`` answers them.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from answer_eval import WHOLE  # --whole-docs: the whole manuals' index names

METHODS = ("bm25", "dense")  # the flat methods h2mt is compared with


def route(files: list[str], budget: int, index_dir: Path, out: Path, whole: bool = False) -> None:
    """One row per question: evidence kept by each method at ``budget`` (``whole``: postgres and
    python questions routed over the whole manuals' indexes)."""
    from h2mt import H2MT, RouteConfig
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.registry import make_methods
    from h2mt.eval.metrics import evidence_kept

    methods = make_methods(["h2mt", *METHODS], beams=[RouteConfig().beam_width])
    views: dict[str, Any] = {}
    with out.open("w", encoding="utf-8") as f:
        for path in files:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                q = json.loads(line)
                if whole:
                    q["doc"] = WHOLE.get(q["doc"], q["doc"])
                if q["doc"] not in views:
                    views[q["doc"]] = view = GroupView(H2MT.load(index_dir / f"{q['doc']}.h2mt"))
                    for m in methods:
                        m.prepare(view)
                row: dict[str, Any] = {"id": q["id"], "set": Path(path).stem, "type": q["type"]}
                for m in methods:
                    sel = m.select(views[q["doc"]], q["question"], budget)
                    row[m.name.split("-b")[0]] = bool(evidence_kept(q["evidence"], sel.text))
                    row[m.name.split("-b")[0] + "_ms"] = sel.select_ms
                f.write(json.dumps(row) + "\n")


def score(path: str) -> None:
    """Recall per method with paired intervals of h2mt minus each flat method."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    groups = {"all": rows, "dev": [r for r in rows if r["set"] == "answer_dev"],
              "held-out": [r for r in rows if r["set"] != "answer_dev"]}
    for name, rs in groups.items():
        if not rs:
            continue
        cells = [f"{m} {sum(r[m] for r in rs) / len(rs):.3f}" for m in ("h2mt", *METHODS)]
        for m in METHODS:
            d, lo, hi = bootstrap_ci([float(r["h2mt"]) - float(r[m]) for r in rs])
            cells.append(f"h2mt - {m} {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        print(f"{name} (n={len(rs)}): " + "; ".join(cells))
    for t in sorted({r["type"] for r in rows}):
        rs = [r for r in rows if r["type"] == t]
        print(f"  {t} (n={len(rs)}): " + ", ".join(f"{m} {sum(r[m] for r in rs) / len(rs):.2f}"
                                                  for m in ("h2mt", *METHODS)))
    ms = [r["h2mt_ms"] for r in rows]
    print(f"h2mt route time: median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms")


def main() -> None:
    """Command line: route the files' questions (``--out``) or score a row file (``--score``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", default="/tmp/ans/idx", help="the group indexes (scripts/answer_eval.py)")
    ap.add_argument("--out", default=None, help="row file to write")
    ap.add_argument("--score", default=None, help="score this row file instead")
    ap.add_argument("--whole-docs", action="store_true",
                    help="route postgres and python questions over the whole manuals (postgres-docs, python-docs)")
    args = ap.parse_args()
    if args.score:
        score(args.score)
    elif args.out and args.files:
        route(args.files, args.budget, Path(args.index_dir), Path(args.out), args.whole_docs)
    else:
        ap.error("give --out FILE and question files, or --score FILE")


if __name__ == "__main__":
    main()
