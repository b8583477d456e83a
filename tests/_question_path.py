"""The question path pinned on a tiny model over the Bash manual (dev questions).

``python -m tests._question_path OUT.json`` records, for each Bash dev question, the kept leaf
ids and scores, the prompt token ids and the greedy answer; ``test_question_path.py`` checks
the current code against the recorded file, so a refactor that changes behaviour fails.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

BASH = Path("/usr/share/doc/bash-doc/bashref.html")
QA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "manuals" / "manual_qa_dev.jsonl"
BUDGET = 112  # kept leaves of a few sections plus their headings and the instructions fit the tiny 512-token window
MAX_NEW = 16


def bash_questions() -> list[str]:
    """The dev questions over the Bash manual, in file order."""
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r["manual"] == "bash-reference-manual"]


def engine(model_dir: Path) -> Any:
    """The Bash manual indexed with the tiny model's tokenizer and the hashing encoder."""
    from h2mt import H2MT, BackendConfig, H2MTConfig, PrefillConfig
    from h2mt.backends import load_backend
    from h2mt.index.encoders.base import HashingEncoder

    backend = load_backend(BackendConfig(model=str(model_dir), device="cpu"))
    cfg = H2MTConfig(
        prefill=PrefillConfig(task="short", max_new_tokens=MAX_NEW, repetition_penalty=1.1,
                              system_prompt="Answer briefly.")  # the short task pinned (task="auto": test_answer_task)
    )
    return H2MT.build([str(BASH)], cfg, encoder=HashingEncoder(256), backend=backend)


def record(model_dir: Path) -> list[dict[str, Any]]:
    """Route, prompt and greedy answer of every Bash dev question."""
    eng = engine(model_dir)
    rows = []
    for q in bash_questions():
        r = eng.route(q, budget=BUDGET)
        ans = eng.answer(q, budget=BUDGET)
        ids = eng.prompt(q, r.kept).ids
        assert len(ids) == ans.accounting.prompt_tokens
        rows.append({
            "question": q,
            "kept": [k.node.id for k in r.kept],
            "scores": [round(k.score, 5) for k in r.kept],
            "prompt_ids": ids,
            "answer": ans.text,
        })
    return rows


if __name__ == "__main__":
    from tests._tiny import make_tiny_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        out = record(make_tiny_model_dir(tmp))
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
