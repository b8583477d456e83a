"""Train and score the cross-encoder re-ranking of the kept sentences (``h2mt.query.cross_ranker``).

Three steps, each from the command line:

``collect``: every question of the given answer-set files is routed over its document group's
whole-manual index (``scripts/answer_eval.py --whole-docs`` builds them under ``--index-dir``) at
``--budget`` tokens; its kept sentences are ranked in their places as the engine ranks them (BM25
with heading and entry name, fused with the encoder's cosine), and the best 32 are written with
their contexts, whether each can be quoted and whether it is part of the evidence sentence. One
JSON line per question in ``--rows`` (appended: a run resumes).

``train``: the adapters and head trained on the collected questions of the sets given
(``h2mt.train.cross_ranker``), written with a card of what they saw to ``--save`` (default: the
folder shipped for the default encoder).

``score``: for the collected questions of the sets given, where the evidence sentence lands under the
fusion and under the ranker at ``--weights`` (default: the shipped one), paired bootstrap interval of
each difference: first; among the first three; among the first three quotable sentences (what an
explanation quote takes); among the first four (what a generated answer reads with
``focus_sentences=4``).

    .venv/bin/python scripts/cross_ranker_train.py collect --rows /tmp/cr.jsonl tests/data/answer_heldout{,2..91}.jsonl
    .venv/bin/python scripts/cross_ranker_train.py train --rows /tmp/cr.jsonl --sets 1-85
    .venv/bin/python scripts/cross_ranker_train.py score --rows /tmp/cr.jsonl --sets 86-91
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from routing_probe import INDEXES, pending, routed
from sentence_rank_probe import _is_evidence
from sentence_ranker_train import _context, number

COLLECTED = 32  # candidates written per question


def collect(files: list[str], rows: Path, index_dir: Path, budget: int) -> None:
    """One row per question (module docstring); questions already in ``rows`` are skipped."""
    from h2mt.engine import _Signals
    from h2mt.query.evidence import is_quotable, rank_sentences

    with rows.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed([q for q in pending(files, rows) if q["doc"] in INDEXES], index_dir, budget):
            where = _Signals(engine, q["question"], kept, True, 0, True).placed(kept)
            ranked = rank_sentences(q["question"], [s.node.text for s in kept], **where)
            contexts = where.get("contexts", [])
            cands = [{"text": s.text, "context": _context(contexts, s.leaf, s.index), "quotable": is_quotable(s.text),
                      "evidence": _is_evidence(s.text, q["evidence"])} for s in ranked[:COLLECTED]]
            f.write(json.dumps({"id": q["id"], "set": q["set"], "type": q.get("type"), "question": q["question"],
                                "kept_evidence": any(_is_evidence(s.text, q["evidence"]) for s in ranked),
                                "cands": cands}) + "\n")
            f.flush()


def chosen_sets(spec: str) -> set[int]:
    """``"1-85"`` or ``"86,88,90-91"`` -> set numbers."""
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def load(rows: Path, sets: set[int]) -> list[dict[str, Any]]:
    """The collected rows of the chosen sets."""
    lines = rows.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, filter(None, lines)) if number(r["set"]) in sets]


def groups(rows: list[dict[str, Any]]) -> list[Any]:
    """``h2mt.train.cross_ranker.CrossGroup`` per row."""
    from h2mt.query.evidence import placed
    from h2mt.train.cross_ranker import CrossGroup

    return [CrossGroup(r["question"], tuple(placed(c["text"], c["context"]) for c in r["cands"]),
                       tuple(c["quotable"] for c in r["cands"]), tuple(c["evidence"] for c in r["cands"])) for r in rows]


def landed(order: list[int], cands: list[dict[str, Any]]) -> tuple[bool, bool, bool, bool]:
    """Evidence first; among the first three; among the first three quotable; among the first four."""
    ev = [cands[k]["evidence"] for k in order]
    quotable = [k for k in order if cands[k]["quotable"]][:3]
    return bool(ev[:1] and ev[0]), any(ev[:3]), any(cands[k]["evidence"] for k in quotable), any(ev[:4])


def score(rows: list[dict[str, Any]], ranker: Any) -> None:
    """Print the fusion against ``ranker`` (module docstring), overall and per question type."""
    from h2mt.eval.metrics import bootstrap_ci
    from h2mt.query.evidence import placed
    from tqdm import tqdm

    pairs, types = [], []
    for r in tqdm(rows, desc="scoring"):
        cands = r["cands"][:ranker.top]
        base = list(range(len(cands)))
        s = ranker.scores(r["question"], [placed(c["text"], c["context"]) for c in cands], [c["quotable"] for c in cands])
        pairs.append((landed(base, cands), landed(sorted(base, key=lambda k: -s[k]), cands)))
        types.append(r["type"])
    print(f"{len(rows)} questions; the evidence among the {ranker.top} re-scored: "
          f"{sum(any(c['evidence'] for c in r['cands'][:ranker.top]) for r in rows)}")
    for j, label in enumerate(("first", "first three", "first three quotable", "first four")):
        a, b = [float(p[0][j]) for p in pairs], [float(p[1][j]) for p in pairs]
        d, lo, hi = bootstrap_ci([y - x for x, y in zip(a, b, strict=True)])
        per = ", ".join(f"{t} {sum(a[i] for i in range(len(a)) if types[i] == t):.0f}->"
                        f"{sum(b[i] for i in range(len(b)) if types[i] == t):.0f}" for t in sorted(set(types)))
        print(f"{label}: fusion {sum(a):.0f}, ranker {sum(b):.0f}, {d:+.3f} ({lo:+.3f} to {hi:+.3f}); {per}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["collect", "train", "score"])
    ap.add_argument("files", nargs="*", help="collect: answer-set JSONL files")
    ap.add_argument("--rows", type=Path, required=True, help="the collected questions (JSONL)")
    ap.add_argument("--sets", default="1-85", help="train/score: set numbers, e.g. 1-85 or 86,88-91")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/ans35/idx"), help="whole-manual indexes")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--epochs", type=int, default=2, help="train: passes over the questions")
    ap.add_argument("--save", type=Path, help="train: weights folder (default: the shipped one)")
    ap.add_argument("--weights", type=Path, help="score: weights folder (default: the shipped one)")
    a = ap.parse_intermixed_args()
    from h2mt.index.encoders.names import DEFAULT_ENCODER_NAME, default_encoder_path
    from h2mt.query.cross_ranker import cross_ranker_path, load_cross_ranker
    from h2mt.train.cross_ranker import CrossTraining, save_cross_ranker, train_cross_ranker

    if a.step == "collect":
        collect(a.files, a.rows, a.index_dir, a.budget)
        return
    rows = load(a.rows, chosen_sets(a.sets))
    if a.step == "train":
        model = train_cross_ranker(groups(rows), default_encoder_path(), CrossTraining(epochs=a.epochs))
        target = save_cross_ranker(model, a.save or cross_ranker_path(DEFAULT_ENCODER_NAME),
                                   {"encoder": DEFAULT_ENCODER_NAME, "trained_on": f"answer sets {a.sets}",
                                    "budget": a.budget})
        print(f"wrote {target} ({len(rows)} questions)")
        return
    ranker = load_cross_ranker(DEFAULT_ENCODER_NAME, a.weights)
    if ranker is None:
        where = a.weights or cross_ranker_path(DEFAULT_ENCODER_NAME)
        raise SystemExit(f"no weights at {where}: run the train step first")
    score(rows, ranker)


if __name__ == "__main__":
    main()
