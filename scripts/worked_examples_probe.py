"""Short answers with three worked examples before the question, against none (measured, not built).

A short answer (a name or a value) is written by the generator from the short-answer prompt. This
probe answers each question twice with the engine: as it is, and with three worked examples put
before the question as earlier chat turns (a made-up tool's manual, so no example holds a real
answer: an option by its description, a default stated in an entry, a state "off"). Only prompts of
the short task get the examples (``h2mt.query.prompt.build_messages`` is wrapped for this run; a
retry in the brief layout is unchanged). Each answer is judged (``h2mt.eval.answer_judge``) and its
TTFT recorded; ``--score`` prints the paired difference and both median TTFTs.

    .venv/bin/python scripts/worked_examples_probe.py --index-dir /tmp/s48/idx --out /tmp/we.jsonl \\
        --ids /tmp/short_ids.txt tests/data/answer_heldout{59..85}.jsonl
    .venv/bin/python scripts/worked_examples_probe.py --score /tmp/we.jsonl
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id

EXAMPLES = (  # (question, context, answer): a made-up tool, so that no example holds a real answer
    ("I want frob to stop descending after a few levels of directories; which option do I use?",
     "## frob Manual > Options > --max-depth\n\nLimit recursion to N levels of directories below the starting "
     "point.\n\n## frob Manual > Options > --quiet\n\nSuppress all output except errors.", "--max-depth"),
    ("If I never set cache_size in frob.conf, how big is the cache?",
     "## frob Manual > Settings > cache_size (integer)\n\nThe size of the in-memory cache. The default is 64MB.\n\n"
     "## frob Manual > Settings > cache_dir (string)\n\nWhere cached files are written. The default is "
     "/var/cache/frob.", "64MB"),
    ("Right after frob starts, what state is its autosave setting in?",
     "## frob Manual > Settings > autosave\n\nIf set to on, changes are written to disk every minute. This option "
     "is off by default.", "off"),
)


def with_examples(build: Callable[..., list[dict[str, str]]]) -> Callable[..., list[dict[str, str]]]:
    """``build`` (``build_messages``) with :data:`EXAMPLES` as earlier turns of a short-task prompt."""
    from h2mt.config import AnswerTask
    from h2mt.query.task import resolve_task

    def build_with(question: str, context: str, cfg: Any) -> list[dict[str, str]]:
        messages = build(question, context, cfg)
        if resolve_task(question.strip(), cfg).task != AnswerTask.SHORT:
            return messages
        turns = [m for q, c, a in EXAMPLES for m in (build(q, c, cfg)[1], {"role": "assistant", "content": a})]
        return [messages[0], *turns, messages[1]]

    return build_with


def probe(files: list[str], budget: int, index_dir: Path, out: Path, ids: set[str]) -> None:
    """Two answers per question of ``ids`` (resumable: questions in ``out`` are skipped)."""
    import h2mt.query.prompt as prompt_module
    from h2mt.eval.answer_judge import judge_row

    plain = prompt_module.build_messages
    with out.open("a", encoding="utf-8") as f:
        for q, engine, _ in routed(pending(files, out, lambda q: q["id"] in ids), index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "type": q["type"]}
            for name, build in (("off", plain), ("on", with_examples(plain))):
                prompt_module.build_messages = build  # type: ignore[assignment]
                try:
                    a = engine.answer(q["question"], budget=budget)
                finally:
                    prompt_module.build_messages = plain  # type: ignore[assignment]
                row[name], row[f"{name}_right"] = a.text, judge_row(q, a.text).correct
                row[f"{name}_ttft_ms"], row[f"{name}_reason"] = a.accounting.ttft_ms, a.accounting.task_reason
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Without against with the examples, paired; median TTFT of each."""
    rows = list(rows_by_id([path]).values())
    print(f"{len(rows)} questions, without against with the examples: "  # noqa: T201
          f"{paired([(float(r['off_right']), float(r['on_right'])) for r in rows])}")
    print(f"TTFT median: {statistics.median(r['off_ttft_ms'] for r in rows) / 1000:.2f} s without, "  # noqa: T201
          f"{statistics.median(r['on_ttft_ms'] for r in rows) / 1000:.2f} s with")


def main() -> None:
    """Command line: probe the questions of ``--ids`` (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--ids", type=Path, help="with --out: the ids of the questions to answer")
    a = ap.parse_args()
    if a.score:
        score(a.score)
    elif a.out and a.files and a.ids:
        probe(a.files, a.budget, a.index_dir, a.out, set(a.ids.read_text(encoding="utf-8").split()))
    else:
        ap.error("give answer-set files, --ids and --out, or --score")


if __name__ == "__main__":
    main()
