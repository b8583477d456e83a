#!/usr/bin/env python
# ruff: noqa: T201 - a command-line script: it prints its tables
"""Encoder runtimes compared: build time and peak RSS, and routing recall (selection only).

    # build time + peak RSS, each run in a fresh process (torch fp32 vs ONNX fp32 vs ONNX int8)
    python scripts/bench_encoders.py build /usr/share/doc/bash-doc/bashref.html \
        --backends torch,onnx,onnx-int8 --batch-sizes 16,64 --out bench-results/encoders
    # routing recall of h2mt's selection with each encoder (no generation)
    python scripts/bench_encoders.py recall --dataset manuals --budgets 512,1024,2048
    python scripts/bench_encoders.py recall --dataset hotpotqa-long --length 8k --budgets 512,1024,2048

The one-time ONNX export (and int8 quantization) is done before the timed build and reported
apart. Results are printed as a Markdown table and written as JSON next to the indexes.
Timings are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _build(args: argparse.Namespace) -> None:
    from h2mt.index.encoders.base import default_encoder_path
    from h2mt.index.encoders.onnx import export_onnx
    from h2mt.index.store import load_index

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        export_s = 0.0
        if backend != "torch":
            t0 = time.perf_counter()
            export_onnx(default_encoder_path(), backend)  # type: ignore[arg-type]
            export_s = time.perf_counter() - t0
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            index = out / f"{Path(args.sources[0]).stem}-{backend}-b{bs}.h2mt"
            cmd = [sys.executable, "-m", "h2mt.cli.main", "build", *args.sources, "-o", str(index),
                   "--encoder-backend", backend, "--encoder-batch-size", str(bs)]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
            wall = time.perf_counter() - t0
            stdout = proc.stdout.read() if proc.stdout else ""
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"build failed: {' '.join(cmd)}\n{stdout}")
            idx = load_index(index)
            t = idx.meta["build_timings"]
            leaves = len(idx.leaves())
            rows.append({"backend": backend, "batch_size": bs, "wall_s": wall, "total_s": t["total_s"],
                         "encode_s": t["encode_s"], "leaves": leaves, "leaves_per_s": leaves / t["encode_s"],
                         "peak_rss_mib": usage.ru_maxrss / 1024, "index_mib": index.stat().st_size / 2**20,
                         "bytes_per_leaf": index.stat().st_size / leaves, "one_time_export_s": export_s})
    print("| encoder | batch | build s | encode s | leaves/s | peak RSS MiB | index MiB | bytes/leaf |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['batch_size']} | {r['total_s']:.1f} | {r['encode_s']:.1f} | "
              f"{r['leaves_per_s']:.1f} | {r['peak_rss_mib']:.0f} | {r['index_mib']:.1f} | {r['bytes_per_leaf']:.0f} |")
    (out / "encoders-build.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


def _recall(args: argparse.Namespace) -> None:
    from h2mt import BackendConfig, EncoderConfig, H2MTConfig
    from h2mt.backends import load_counter
    from h2mt.engine import H2MT
    from h2mt.eval.datasets.registry import load_dataset
    from h2mt.eval.metrics import evidence_kept, titles_kept
    from h2mt.index.encoders.base import load_encoder
    from h2mt.query.prompt import format_context

    counter = load_counter(BackendConfig())
    ds = load_dataset(args.dataset, counter, data=args.data, length=args.length, seed=args.seed,
                      subset=args.subset).limited(args.limit)
    budgets = [int(b) for b in args.budgets.split(",")]
    table: dict[str, dict[int, float]] = {}
    for backend in args.backends.split(","):
        enc = load_encoder(EncoderConfig(backend=backend))  # type: ignore[arg-type]
        hits = {b: 0 for b in budgets}
        for key, group in ds.groups.items():
            eng = H2MT.build(group.sources, H2MTConfig(), encoder=enc, token_counter=counter)
            for q in (q for q in ds.questions if q.group == key):
                for b in budgets:
                    kept = eng.route(q.question, budget=b).kept
                    if q.gold_titles:
                        ok = titles_kept(q.gold_titles, {k.node.path[-1] for k in kept if k.node.path})[0]
                    else:
                        text = format_context([k.node for k in kept])
                        ok = all(evidence_kept(e, text) for e in q.evidence)
                    hits[b] += int(ok)
        table[backend] = {b: hits[b] / max(1, len(ds.questions)) for b in budgets}
    print(f"evidence recall (all gold kept), {ds.name}, {len(ds.questions)} questions")
    print("| encoder | " + " | ".join(f"budget {b}" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    for backend, row in table.items():
        print(f"| {backend} | " + " | ".join(f"{row[b]:.3f}" for b in budgets) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build time and peak RSS per encoder runtime")
    b.add_argument("sources", nargs="+")
    b.add_argument("--backends", default="torch,onnx,onnx-int8")
    b.add_argument("--batch-sizes", default="16")
    b.add_argument("--out", default="bench-results/encoders")
    r = sub.add_parser("recall", help="routing recall per encoder runtime (selection only)")
    r.add_argument("--dataset", default="manuals")
    r.add_argument("--length", default="8k")
    r.add_argument("--data", default=None)
    r.add_argument("--subset", default=None, help="manuals: bash or postgres only")
    r.add_argument("--budgets", default="512,1024,2048")
    r.add_argument("--backends", default="torch,onnx,onnx-int8")
    r.add_argument("--limit", type=int, default=None)
    r.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    _build(args) if args.cmd == "build" else _recall(args)


if __name__ == "__main__":
    main()
