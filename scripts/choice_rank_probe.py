"""The generator choosing, among the best few kept sentences, the one that answers the question.

An explanation quote (``placed_quote``) shows the three quotable sentences the fusion ranks best;
when the evidence sentence is kept but ranked fourth or lower, the quote misses it. Every learned
ranker built so far compares the question with one sentence at a time. This probe asks the
generator to compare them with each other: the best ``--top`` quotable candidates of a question,
in the fusion's order, are numbered in one prompt, and the generator's next-token distribution
over the numbers ``1..top`` is read after "Reply with the number of the sentence that answers the
question" (one forward pass of about 60 tokens a sentence; no decoding)::

    system: You pick the sentence that answers a question about documentation.
    user:   Sentences:
            1. <context>: <sentence>
            ...
            Question: <question>
            Which sentence answers the question? Reply with its number only.

Input: the rows of ``scripts/cross_ranker_train.py collect`` (each question's 32 best candidates in
the fusion's order, with context, quotable and evidence flags). ``--out`` gets one row per question
(the probabilities and the evidence flags of the numbered candidates; appended, resumable);
``--score`` prints where the evidence lands among a quote's three sentences under the fusion and
under each way of using the choice, with paired bootstrap intervals:

- ``chosen first``: the chosen sentence, then the fusion's order;
- ``chosen if p >= T``: the same, only when the choice's probability is at least ``T``;
- ``by probability``: the numbered candidates ordered by the generator's probability.

    .venv/bin/python scripts/choice_rank_probe.py --rows /tmp/cr.jsonl --sets 101-112 --index-dir $IDX \\
        --out /tmp/ch.jsonl
    .venv/bin/python scripts/choice_rank_probe.py --score /tmp/ch.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from cross_ranker_train import chosen_sets, load

SYSTEM = "You pick the sentence that answers a question about documentation."
ASK = "Which sentence answers the question? Reply with its number only."
QUOTED = 3  # sentences an explanation quote shows


def messages(question: str, numbered: list[str]) -> list[dict[str, str]]:
    """The chat messages of one question and its numbered candidates."""
    lines = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(numbered))
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Sentences:\n{lines}\n\nQuestion: {question}\n{ASK}"}]


def probe(rows: list[dict[str, Any]], out: Path, index: Path, top: int) -> None:
    """One output row per question of ``rows`` not yet in ``out``."""
    import torch
    from h2mt import H2MT
    from h2mt.query.evidence import placed
    from tqdm import tqdm

    done = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()} if out.exists() else set()
    backend = H2MT.load(index).backend
    digits = [backend.encode(str(i + 1))[0] for i in range(top)]
    with out.open("a", encoding="utf-8") as f:
        for r in tqdm([r for r in rows if r["id"] not in done], desc="choosing"):
            quotable = [c for c in r["cands"] if c["quotable"]][:top]
            if not quotable:
                continue
            start = time.perf_counter()
            ids = backend.chat_ids(messages(r["question"], [placed(c["text"], c["context"]) for c in quotable]))
            logits, _ = backend.prefill_logits(ids)  # (V,)
            p = torch.softmax(logits[digits[:len(quotable)]], -1).tolist()  # (n,): over the numbers shown
            f.write(json.dumps({"id": r["id"], "set": r["set"], "type": r["type"], "p": p,
                                "evidence": [c["evidence"] for c in quotable], "tokens": len(ids),
                                "ms": (time.perf_counter() - start) * 1000.0}) + "\n")
            f.flush()


def orders(p: list[float], threshold: float) -> dict[str, list[int]]:
    """The numbered candidates' order under the fusion and under each use of the choice."""
    base = list(range(len(p)))
    best = max(base, key=lambda k: p[k])
    chosen = [best] + [k for k in base if k != best]
    return {"fusion": base, "chosen first": chosen,
            f"chosen if p >= {threshold}": chosen if p[best] >= threshold else base,
            "by probability": sorted(base, key=lambda k: -p[k])}


def score(path: Path, threshold: float) -> None:
    """Evidence among the quote's sentences and first, per order, paired with the fusion."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    landed: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for name, order in orders(r["p"], threshold).items():
            ev = [r["evidence"][k] for k in order]
            landed.setdefault(name, []).append((float(ev[0]), float(any(ev[:QUOTED]))))
    ms = sorted(r["ms"] for r in rows)
    print(f"{len(rows)} questions; evidence among the numbered: {sum(any(r['evidence']) for r in rows)}; "
          f"median {ms[len(ms) // 2]:.0f} ms, mean {sum(r['tokens'] for r in rows) / len(rows):.0f} tokens; "
          f"mean max p {sum(max(r['p']) for r in rows) / len(rows):.2f}")
    base = landed["fusion"]
    for name, got in landed.items():
        cells = []
        for j, label in ((0, "first"), (1, f"among {QUOTED}")):
            d, lo, hi = bootstrap_ci([g[j] - b[j] for g, b in zip(got, base, strict=True)])
            cells.append(f"{label} {sum(g[j] for g in got):.0f} ({d:+.3f}, {lo:+.3f} to {hi:+.3f})")
        print(f"{name:>22}: " + "; ".join(cells))
    picked = [max(range(len(r["p"])), key=lambda k: r["p"][k]) for r in rows]
    print("choice's rank:", {k: picked.count(k) for k in sorted(set(picked))},
          "entropy", round(sum(-sum(x * math.log(x + 1e-12) for x in r["p"]) for r in rows) / len(rows), 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=Path, help="rows of cross_ranker_train.py collect")
    ap.add_argument("--sets", default=None, help="the sets to probe, e.g. 101-112")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/ans/idx"), help="an index whose generator is used")
    ap.add_argument("--top", type=int, default=6, help="quotable candidates numbered per question")
    ap.add_argument("--out", type=Path, help="probe rows (JSONL; appended, resumable)")
    ap.add_argument("--score", type=Path, default=None, help="score these probe rows instead")
    ap.add_argument("--threshold", type=float, default=0.5, help="the choice's probability for 'chosen if p >= T'")
    a = ap.parse_args()
    if a.score:
        score(a.score, a.threshold)
        return
    if not (a.rows and a.sets and a.out):
        ap.error("--rows, --sets and --out are needed (or --score)")
    probe(load(a.rows, chosen_sets(a.sets)), a.out, a.index_dir / "bash.h2mt", a.top)


if __name__ == "__main__":
    main()
