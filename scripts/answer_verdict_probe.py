"""Would the generator's own first-token preference between "Yes" and "No" be a better verdict than its answer?

For every polarity question answered by a generated brief answer in answer-row files of
``scripts/answer_eval.py`` (``SET:ROWS``; the row keeps the context the answer read), the brief
prompt over that context is prefilled once and the log-probabilities of "Yes" and "No" as the
answer's first token are compared (``raw``); ``calibrated`` subtracts the same two with the
context replaced by "N/A" (contextual calibration). Prints how often each verdict, and the
generated answer (judged by ``h2mt.eval.answer_judge``), is right, with the paired difference to
the generated answer.

    .venv/bin/python scripts/answer_verdict_probe.py --out verdict.jsonl 16:h16.jsonl 17:h17.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Command line: probe the rows, then print the comparison."""
    import torch

    from h2mt import H2MT, PrefillConfig
    from h2mt.config import AnswerTask
    from h2mt.eval.answer_judge import judge_row
    from h2mt.eval.metrics import bootstrap_ci
    from h2mt.query.prompt import build_messages

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="+", help="SET:ROWS, e.g. 16:h16.jsonl (answer rows of answer_heldout16.jsonl)")
    ap.add_argument("--index", default="/tmp/ans35/idx/bash.h2mt", help="an index whose generator is used")
    ap.add_argument("--out", required=True, help="probe rows (JSONL, rewritten)")
    args = ap.parse_args()
    backend = H2MT.load(Path(args.index)).backend
    cfg = PrefillConfig(task=AnswerTask.BRIEF)
    yes, no = backend.encode("Yes")[0], backend.encode("No")[0]
    rows = []
    for spec in args.rows:
        number, path = spec.split(":", 1)
        gold_file = ROOT / "tests" / "data" / f"answer_heldout{number}.jsonl"
        gold = {g["id"]: g for g in map(json.loads, gold_file.read_text(encoding="utf-8").splitlines())}
        for r in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines()):
            g, acc = gold[r["id"]], r["accounting"]
            if g["type"] != "polarity" or acc["task"] != "brief" or "quoted" in (acc.get("task_reason") or ""):
                continue
            truth = g["answers"][0].strip().lower().split()[0].strip(",.")
            if truth not in ("yes", "no"):
                continue
            pair = {}
            for name, context in (("context", r.get("context") or ""), ("free", "N/A")):
                logits, _ = backend.prefill_logits(backend.chat_ids(build_messages(g["question"], context, cfg)))
                lp = torch.log_softmax(logits, -1)  # (V,)
                pair[name] = (lp[yes].item(), lp[no].item())
            said = re.match(r"^\W*(yes|no)\b", r["prediction"], re.IGNORECASE)
            rows.append({"id": r["id"], "truth": truth, "generated": said.group(1).lower() if said else None,
                         "generated_ok": judge_row(g, r["prediction"]).correct, **pair})
    Path(args.out).write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")

    def raw(x: dict) -> str:
        return "yes" if x["context"][0] > x["context"][1] else "no"

    def calibrated(x: dict) -> str:
        return "yes" if x["context"][0] - x["free"][0] > x["context"][1] - x["free"][1] else "no"

    gen = [float(x["generated_ok"]) for x in rows]
    print(f"{len(rows)} questions ({sum(x['truth'] == 'yes' for x in rows)} answered yes); generated answers "  # noqa: T201
          f"right {sum(gen):.0f}, without a verdict {sum(x['generated'] is None for x in rows)}")
    for f in (raw, calibrated):
        ok = [float(f(x) == x["truth"]) for x in rows]
        d, lo, hi = bootstrap_ci([a - b for a, b in zip(ok, gen, strict=True)])
        print(f"{f.__name__}: right {sum(ok):.0f}, says yes {sum(f(x) == 'yes' for x in rows)}; "  # noqa: T201
              f"- generated {d:+.3f} ({lo:+.3f} to {hi:+.3f})")


if __name__ == "__main__":
    main()
