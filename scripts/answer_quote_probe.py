"""Would quoting one sentence beat a generated brief answer? The sentence picked by the generator's query likelihood.

For every generated brief answer (``task="brief"``, not quoted) of the given types in answer-row
files of ``scripts/answer_eval.py``, the sentences of the context the answer read (the row's
``context``; sentences of at least three words) are scored by the generator's mean
log-probability of the question after each (``h2mt.query.likelihood.likelihoods``, cut to
:data:`SENTENCE_WORDS` words), and the best one is judged as the answer
(``h2mt.eval.answer_judge``) next to the generated answer. ``--score`` prints, per type, the
generated answers right, the quotes right, how often the quote is the evidence sentence, and the
paired difference with its bootstrap interval.

    .venv/bin/python scripts/answer_quote_probe.py --out quote.jsonl 16:h16.jsonl 17:h17.jsonl
    .venv/bin/python scripts/answer_quote_probe.py --score quote.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE_WORDS = 60  # the generator reads at most this many words of a sentence before the question


def probe(specs: list[str], types: list[str], out: Path, index: Path) -> None:
    """One row per generated brief answer: its sentences, their likelihoods and verdicts (resumable)."""
    from h2mt import H2MT
    from h2mt.eval.answer_judge import judge_row
    from h2mt.eval.metrics import normalise
    from h2mt.query.evidence import split_sentences
    from h2mt.query.likelihood import likelihoods

    done = {json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()} if out.exists() else set()
    backend = H2MT.load(index).backend  # any index: only its generator is used
    with out.open("a", encoding="utf-8") as f:
        for spec in specs:
            number, rows = spec.split(":", 1)
            gold_file = ROOT / "tests" / "data" / f"answer_heldout{number}.jsonl"
            gold = {g["id"]: g for g in map(json.loads, gold_file.read_text(encoding="utf-8").splitlines())}
            for r in map(json.loads, Path(rows).read_text(encoding="utf-8").splitlines()):
                g, acc = gold[r["id"]], r["accounting"]
                if r["id"] in done or g["type"] not in types or acc["task"] != "brief" or \
                        "quoted" in (acc.get("task_reason") or ""):
                    continue
                sents = [s for line in (r.get("context") or "").split("\n") for s in split_sentences(line)
                         if len(s.split()) >= 3]
                if not sents:
                    continue
                scores, ms = likelihoods(backend, g["question"], sents, words=SENTENCE_WORDS)
                evidence = normalise(g["evidence"])[:60]
                f.write(json.dumps({
                    "id": r["id"], "type": g["type"], "ms": ms, "lm": scores,
                    "generated_ok": judge_row(g, r["prediction"]).correct,
                    "ok": [judge_row(g, s).correct for s in sents],
                    "evidence": [evidence in normalise(s) for s in sents],
                }) + "\n")
                f.flush()


def score(path: Path) -> None:
    """Generated against quoted, per type, paired."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    for t in [*sorted({r["type"] for r in rows}), "all"]:
        rs = [r for r in rows if t in ("all", r["type"])]
        best = [max(range(len(r["lm"])), key=lambda i, r=r: r["lm"][i]) for r in rs]
        gen = [float(r["generated_ok"]) for r in rs]
        quote = [float(r["ok"][b]) for r, b in zip(rs, best, strict=True)]
        d, lo, hi = bootstrap_ci([q - g for g, q in zip(gen, quote, strict=True)])
        print(f"{t} (n={len(rs)}): generated {sum(gen):.0f} right, quoted {sum(quote):.0f}; quote - generated "  # noqa: T201
              f"{d:+.3f} ({lo:+.3f} to {hi:+.3f}); evidence in the context {sum(any(r['evidence']) for r in rs)}, "
              f"in the quote {sum(r['evidence'][b] for r, b in zip(rs, best, strict=True))}")


def main() -> None:
    """Command line: probe answer-row files (``--out``) or score a probe file (``--score``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="*", help="SET:ROWS, e.g. 16:h16.jsonl (answer rows of answer_heldout16.jsonl)")
    ap.add_argument("--types", nargs="*", default=["polarity", "what"], help="question types probed")
    ap.add_argument("--index", default="/tmp/ans35/idx/bash.h2mt", help="an index whose generator is used")
    ap.add_argument("--out", default=None, help="probe rows (JSONL; appended, resumable)")
    ap.add_argument("--score", default=None, help="score this probe file instead")
    args = ap.parse_args()
    if args.score:
        score(Path(args.score))
    elif args.out:
        probe(args.rows, args.types, Path(args.out), Path(args.index))
    else:
        ap.error("give --out (with SET:ROWS files) or --score")


if __name__ == "__main__":
    main()
