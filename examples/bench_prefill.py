"""Prefill cost of h2mt against full-context prefill, with the default local model.

    python examples/bench_prefill.py --length 7200 --budget 1024 --questions 5

For each of the first N HotpotQA questions, an ~LENGTH-token haystack document is
built (the question's 10 paragraphs plus other questions' paragraphs, shuffled with a
fixed seed) and indexed. Each method then answers every question; one warm-up answer
runs first. Each method runs in a fresh process so its peak RSS is its own.
Prints one JSON line per method and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def run_method(args: argparse.Namespace) -> dict:
    from h2mt import H2MT, H2MTConfig, PrefillConfig
    from h2mt.backends import load_backend
    from h2mt.encoders import SentenceTransformerEncoder
    from h2mt.eval.hotpot import haystack_document, load_hotpot
    from h2mt.eval.metrics import answer_contained

    backend = load_backend()
    encoder = SentenceTransformerEncoder()
    cfg = H2MTConfig(prefill=PrefillConfig(max_new_tokens=args.max_new_tokens))
    qs = load_hotpot(args.data)
    rows = []
    for i, q in enumerate(qs[: args.questions + 1]):
        doc = haystack_document(q, qs, args.length, backend.count_tokens)
        eng = H2MT.build([doc], cfg, encoder=encoder, backend=backend)
        ans = eng.answer(q.question, budget=args.budget, full=args.method == "full")
        if i == 0:
            continue  # warm-up
        a = ans.accounting
        rows.append({"prefill_ms": a.prefill_ms, "ttft_ms": a.ttft_ms, "route_ms": a.route_ms,
                     "prompt_tokens": a.prompt_tokens, "tokens_total": a.tokens_total, "tokens_kept": a.tokens_kept,
                     "contained": answer_contained([q.answer], ans.text), "peak": a.peak_mem_bytes})
    med = {k: statistics.median(r[k] for r in rows) for k in ("prefill_ms", "ttft_ms", "route_ms", "prompt_tokens", "tokens_total", "tokens_kept")}
    return {"method": args.method, "questions": len(rows), **med,
            "answer_in_output": sum(r["contained"] for r in rows), "peak_rss_mib": max(r["peak"] for r in rows) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=7200, help="document tokens (the full prompt must fit the 8,192-token model)")
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--data", default=None, help="HotpotQA JSONL (default: ../shared/data/hotpotqa)")
    ap.add_argument("--method", choices=["full", "h2mt"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.method:
        print(json.dumps(run_method(args)))
        return
    results = []
    for method in ("full", "h2mt"):
        t = time.perf_counter()
        cmd = [sys.executable, __file__, "--method", method, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{method} failed:\n{proc.stderr[-3000:]}")
        out = proc.stdout.strip().splitlines()[-1]
        res = json.loads(out)
        res["wall_s"] = time.perf_counter() - t
        print(json.dumps(res), flush=True)
        results.append(res)
    full, h2 = results
    print("\n| method | prompt tokens | prefill ms | TTFT ms | route ms | peak RSS MiB |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['method']} | {r['prompt_tokens']:.0f} | {r['prefill_ms']:.0f} | {r['ttft_ms']:.0f} | {r['route_ms']:.1f} | {r['peak_rss_mib']:.0f} |")
    print(f"\nprefill speed-up full/h2mt: {full['prefill_ms'] / h2['prefill_ms']:.1f}x; "
          f"TTFT speed-up: {full['ttft_ms'] / h2['ttft_ms']:.1f}x (medians over {h2['questions']} questions, "
          f"document {full['tokens_total']:.0f} tokens, budget {args.budget})")


if __name__ == "__main__":
    main()
