"""Default quotes with and without an option's sentence naming what it replaces ("...instead of the standard input.").

A question asking what holds when something is left out ("When I run mapfile without -u, where does
it read the lines from?") is answered by quoting the kept sentences that state a default
(``h2mt.query.entries.default_quote``, those of the entry it names first). Until stop 51 a sentence
stated one only with words such as "default", "omitted", "if no", "otherwise"; the option's own
sentence, "Read lines from file descriptor fd instead of the standard input.", did not count. This
probe routes every question the rule reads (``default_quote_probe.reads``) over its document group's
whole-manual index and computes the engine's quote (``H2MT._quoted_default``) with the former
pattern and with the current one (``instead of``, ``rather than``, ``defaulting``); where they
differ it answers the question both ways with the engine (``H2MT.answer``), judged
(``h2mt.eval.answer_judge``). ``--score`` prints the paired difference over those questions.

    .venv/bin/python scripts/default_alternative_probe.py --index-dir /tmp/s48/idx --out /tmp/alt.jsonl \\
        tests/data/answer_heldout{2..79}.jsonl
    .venv/bin/python scripts/default_alternative_probe.py --score /tmp/alt.jsonl
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from default_quote_probe import reads
from routing_probe import main, paired, pending, routed, rows_by_id

FORMER = re.compile(  # h2mt.query.entries._STATES_DEFAULT before stop 51
    r"\bdefaults?\b|\bdefaulted\b|\bomitted\b|\bnot (?:specified|supplied|provided|given|set|present)\b|\bif no\b|"
    r"\bis None\b|\bunset\b|\bif (?:\w+ ){1,4}(?:is|are) not\b|\bwithout\b|\botherwise\b|\babsent\b",
    re.IGNORECASE)


@contextmanager
def former() -> Iterator[None]:
    """The former pattern in place of the current one, while the block runs."""
    import h2mt.query.entries as entries

    current = entries._STATES_DEFAULT
    entries._STATES_DEFAULT = FORMER
    try:
        yield
    finally:
        entries._STATES_DEFAULT = current


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question the rule reads (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row

    def quote(engine: Any, question: str, kept: list[Any]) -> str | None:
        found = engine._quoted_default(question, kept, engine.config.prefill, _Signals(engine, question, kept, True, 0))
        return found[1].run() if found else None

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: reads(q["question"])), index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            with former():
                row["former_quote"] = quote(engine, q["question"], kept)
            row["quote"] = quote(engine, q["question"], kept)
            if row["quote"] != row["former_quote"]:
                with former():
                    row["former"] = engine.answer(q["question"], budget=budget).text
                row["now"] = engine.answer(q["question"], budget=budget).text
                row["former_right"] = judge_row(q, row["former"]).correct
                row["now_right"] = judge_row(q, row["now"]).correct
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """The questions whose quote changes: answers right with the former pattern and the current one, paired."""
    rows = list(rows_by_id([path]).values())
    changed = [r for r in rows if "now_right" in r]
    print(f"{len(rows)} questions read by the default rule, {len(changed)} with another quote")  # noqa: T201
    if changed:
        pairs = [(float(r["former_right"]), float(r["now_right"])) for r in changed]
        print(f"former pattern against the current one: {paired(pairs)}")  # noqa: T201


if __name__ == "__main__":
    main(__doc__ or "", probe, score)
