"""Train and score the learned sentence re-ranking (``h2mt.query.sentence_ranker``) on the answer sets.

Three steps, each from the command line:

``collect``: every question of the given answer-set files is routed over its document group's
whole-manual index (``scripts/answer_eval.py --whole-docs`` builds them under ``--index-dir``) at
``--budget`` tokens; its kept sentences are ranked in their places as the engine ranks them
(``_Signals.placed``: BM25 with heading and entry name, fused with the encoder's cosine), and the
best ``RANKER_TOP`` are kept with their features (``h2mt.query.sentence_ranker.features``), their
embeddings read in their places, the question's embedding and which of them is part of the
evidence sentence. One ``<dir>/<set>.npz`` per file (a file already collected is skipped).

``train``: the ranker trained on the collected sets given (``h2mt.train.sentence_ranker``), written
with its card (the sets it saw) to ``--save`` (default: the shipped weights of the default encoder).

``score``: for the collected sets given, the evidence sentence's rank under the fusion and under the
ranker at ``--weights`` (default: the shipped one): first and among the first three, paired
bootstrap interval of the difference. ``--folds 5`` instead trains on all but one fold of the sets
(set number mod 5) and scores the fold left out, for every fold.

    .venv/bin/python scripts/sentence_ranker_train.py collect --dir /tmp/sr tests/data/answer_heldout{,2..52}.jsonl
    .venv/bin/python scripts/sentence_ranker_train.py train --dir /tmp/sr --sets answer_heldout{,2..46}
    .venv/bin/python scripts/sentence_ranker_train.py score --dir /tmp/sr --sets answer_heldout{47..52}
    .venv/bin/python scripts/sentence_ranker_train.py score --dir /tmp/sr --folds 5 --sets answer_heldout{,2..46}
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from routing_probe import INDEXES, routed
from sentence_rank_probe import _is_evidence


def collect(files: list[str], out_dir: Path, index_dir: Path, budget: int) -> None:
    """One ``<set>.npz`` per answer-set file (module docstring)."""
    from h2mt.engine import _Signals
    from h2mt.query.evidence import placed, rank_sentences
    from h2mt.query.sentence_ranker import RANKER_TOP, features

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = out_dir / f"{Path(path).stem}.npz"
        if target.exists():
            continue
        rows = [{**json.loads(line), "set": Path(path).stem}
                for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [q for q in rows if q["doc"] in INDEXES]
        ids, counts, feats, asked, vectors, evidence = [], [], [], [], [], []
        for q, engine, kept in routed(rows, index_dir, budget):
            signals = _Signals(engine, q["question"], kept, True, 0, True)
            where = signals.placed(kept)
            texts = [s.node.text for s in kept]
            ranked = rank_sentences(q["question"], texts, **where)[:RANKER_TOP]
            contexts = [_context(where["contexts"], s.leaf, s.index) for s in ranked]
            emb = signals._embedded([placed(s.text, c) for s, c in zip(ranked, contexts, strict=True)])  # (n, D)
            ids.append(q["id"])
            counts.append(len(ranked))
            feats.append(features(ranked, contexts, [float(c) for c in emb @ signals._asked]))
            asked.append(signals._asked)
            vectors.append(emb)
            evidence.append(np.array([_is_evidence(s.text, q["evidence"]) for s in ranked], dtype=bool))
        dim = len(asked[0]) if asked else 0
        np.savez(target, ids=np.array(ids), counts=np.array(counts, dtype=np.int64),
                 feats=np.concatenate(feats) if feats else np.zeros((0, 8), np.float32),
                 asked=np.stack(asked) if asked else np.zeros((0, dim), np.float32),
                 placed=np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
                 evidence=np.concatenate(evidence) if evidence else np.zeros(0, bool))


def _context(contexts: Any, i: int, j: int) -> str:
    return contexts[i][j] if i < len(contexts) and j < len(contexts[i]) else ""


def load(out_dir: Path, sets: list[str]) -> dict[str, list[Any]]:
    """Set name -> its groups (``h2mt.train.sentence_ranker.Group``), from ``collect``'s files."""
    from h2mt.train.sentence_ranker import Group

    found: dict[str, list[Any]] = {}
    for name in sets:
        with np.load(out_dir / f"{name}.npz") as npz:
            z = dict(npz)  # each array read once (an NpzFile reads an array again at every access)
        off, groups = 0, []
        for k, n in enumerate(z["counts"]):
            part = slice(off, off + n)
            groups.append(Group(z["feats"][part], z["asked"][k], z["placed"][part], z["evidence"][part]))
            off += n
        found[name] = [g for g in groups if len(g.feats)]
    return found


def number(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else 1


def ranks(groups: list[Any], ranker: Any) -> tuple[list[int | None], list[int | None]]:
    """The evidence's rank under the fusion and under ``ranker``, for the groups with an evidence sentence."""
    from h2mt.train.sentence_ranker import evidence_ranks

    with_ev = [g for g in groups if g.evidence.any()]
    return evidence_ranks(with_ev, None), evidence_ranks(with_ev, ranker)


def report(label: str, base: list[int | None], learned: list[int | None]) -> None:
    """Evidence first / among the first three: fusion against ranker, paired (95% CI)."""
    from h2mt.eval.metrics import bootstrap_ci

    cells = []
    for k in (1, 3):
        b = [float(r is not None and r < k) for r in base]
        m = [float(r is not None and r < k) for r in learned]
        d, lo, hi = bootstrap_ci([y - x for x, y in zip(b, m, strict=True)])
        cells.append(f"top-{k}: fusion {sum(b):.0f}, ranker {sum(m):.0f} ({d:+.3f}, {lo:+.3f} to {hi:+.3f})")
    print(f"{label}: {len(base)} questions with the evidence among their candidates; " + "; ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["collect", "train", "score"])
    ap.add_argument("files", nargs="*", help="collect: answer-set JSONL files")
    ap.add_argument("--dir", type=Path, required=True, help="where collect writes <set>.npz")
    ap.add_argument("--sets", nargs="*", default=[], help="train/score: collected set names (file stems)")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/ans35/idx"), help="whole-manual indexes")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--save", type=Path, help="train: weights path without suffix (default: the shipped one)")
    ap.add_argument("--weights", type=Path, help="score: weights path without suffix (default: the shipped one)")
    ap.add_argument("--folds", type=int, default=0, help="score: cross-validate over this many folds of the sets")
    a = ap.parse_intermixed_args()
    from h2mt.index.encoders.names import DEFAULT_ENCODER_NAME
    from h2mt.query.sentence_ranker import load_sentence_ranker, ranker_path
    from h2mt.train.sentence_ranker import train_ranker

    if a.step == "collect":
        collect(a.files, a.dir, a.index_dir, a.budget)
        return
    sets = load(a.dir, a.sets)
    if a.step == "train":
        ranker = train_ranker([g for gs in sets.values() for g in gs],
                              card={"encoder": DEFAULT_ENCODER_NAME, "trained_on": sorted(sets, key=number),
                                    "budget": a.budget})
        target = a.save or ranker_path(DEFAULT_ENCODER_NAME)
        ranker.save(target)
        print(f"wrote {target}.safetensors ({sum(len(g) for g in sets.values())} questions)")
        report("trained on (in sample)", *ranks([g for gs in sets.values() for g in gs], ranker))
        return
    if a.folds:
        base: list[int | None] = []
        learned: list[int | None] = []
        for f in range(a.folds):
            held = [g for s, gs in sets.items() if number(s) % a.folds == f for g in gs]
            b, m = ranks(held, train_ranker([g for s, gs in sets.items() if number(s) % a.folds != f for g in gs]))
            base, learned = base + b, learned + m
        report(f"{a.folds}-fold cross-validation", base, learned)
        return
    ranker = load_sentence_ranker(DEFAULT_ENCODER_NAME, a.weights)
    if ranker is None:
        raise SystemExit(f"no weights at {a.weights or ranker_path(DEFAULT_ENCODER_NAME)}: run the train step first")
    label = ", ".join(a.sets) if len(a.sets) < 4 else f"{len(a.sets)} sets"
    report(label, *ranks([g for gs in sets.values() for g in gs], ranker))


if __name__ == "__main__":
    main()
