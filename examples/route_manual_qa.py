"""Evidence recall of h2mt routing on the manual QA set (docs/architecture.md section 4).

    python examples/route_manual_qa.py --manual bash --budget 1024
    python examples/route_manual_qa.py --manual postgres --budget 2048

Builds (once) and loads an index of the manual, routes every question of
../shared/data/manuals/manual_qa_dev.jsonl for that manual and prints, per
question, whether the evidence sentence survived, with the routing cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from h2mt import H2MT
from h2mt.eval import answer_contained, evidence_kept
from h2mt.query.prompt import format_context

MANUALS = {
    "bash": ("bash-reference-manual", "/usr/share/doc/bash-doc/bashref.html"),
    "postgres": ("postgresql-15-docs", "/usr/share/doc/postgresql-doc-15/html"),
}


# The manual QA file: in $H2MT_DATA when set, else in ../shared/data beside this checkout.
DATA = Path(os.environ.get("H2MT_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
QA = DATA / "manuals" / "manual_qa_dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manual", choices=sorted(MANUALS), default="bash")
    ap.add_argument("--source", help="override the manual's path")
    ap.add_argument("--qa", default=str(QA), help="manual QA JSONL (default: $H2MT_DATA/manuals/, else ../shared/data)")
    ap.add_argument("--index", help="index file (built if missing)")
    ap.add_argument("--budget", type=int, nargs="+", default=[1024])
    ap.add_argument("--beam", type=int, default=8)
    args = ap.parse_args()
    name, source = MANUALS[args.manual]
    source = args.source or source
    index = Path(args.index or f"{args.manual}.h2mt")
    if not index.exists():
        t = time.perf_counter()
        H2MT.build([source], progress=True).save(index)
        print(f"built {index} in {time.perf_counter() - t:.1f}s")
    eng = H2MT.load(index)
    qs = [q for q in map(json.loads, open(args.qa)) if q["manual"] == name]
    eng.route(qs[0]["question"], budget=args.budget[0])  # warm-up (encoder load)
    for budget in args.budget:
        hits, ans, ms, scored = 0, 0, [], []
        for q in qs:
            r = eng.route(q["question"], budget=budget, beam_width=args.beam)
            text = format_context([k.node for k in r.kept])
            ok = evidence_kept(q["evidence"], text)
            hits += ok
            ans += answer_contained(q["answers"], text)
            ms.append(r.route_ms)
            scored.append(r.nodes_scored)
            if os.environ.get("VERBOSE") or not ok:
                print(f"  {'OK  ' if ok else 'MISS'} {q['id']}: {q['question'][:70]}")
                if not ok and os.environ.get("VERBOSE"):
                    print("       kept:", sorted({' > '.join(k.node.path[-2:]) for k in r.kept})[:6])
        print(
            f"budget {budget}: evidence {hits}/{len(qs)}, answer contained {ans}/{len(qs)}, "
            f"route ms median {statistics.median(ms):.1f} max {max(ms):.1f}, "
            f"nodes scored median {statistics.median(scored):.0f} / {len(eng.index.nodes)}"
        )


if __name__ == "__main__":
    main()
