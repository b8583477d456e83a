"""``manuals``: the Bash Reference Manual and the PostgreSQL 15 docs with their QA file.

The manuals come from the Debian packages ``bash-doc`` and ``postgresql-doc-15``; nothing is
copied into the repository. Gold evidence is the QA file's ``evidence`` sentence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...errors import InputError
from .paths import MANUAL_QA_FILE, data_file
from .types import BenchDataset, BenchQuestion, DocGroup, path_fingerprint

__all__ = ["MANUALS", "INSTALL_HINT", "manuals_dataset", "manual_source"]

MANUALS: dict[str, tuple[str, str, str]] = {
    # short name: (QA "manual" field, Debian package, default path)
    "bash": ("bash-reference-manual", "bash-doc", "/usr/share/doc/bash-doc/bashref.html"),
    "postgres": ("postgresql-15-docs", "postgresql-doc-15", "/usr/share/doc/postgresql-doc-15/html"),
}

INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y bash-doc postgresql-doc-15"

_ENV = {"bash": "H2MT_BASH_MANUAL", "postgres": "H2MT_POSTGRES_DOCS"}


def manual_source(short: str) -> str:
    """Path of a manual (environment override ``H2MT_BASH_MANUAL`` / ``H2MT_POSTGRES_DOCS``)."""
    _, package, default = MANUALS[short]
    path = os.environ.get(_ENV[short], default)
    if not Path(path).exists():
        raise InputError(
            f"The {short} manual is not installed (expected {path}, Debian package {package}). "
            f"Install the manuals with: {INSTALL_HINT}  (or set {_ENV[short]}=PATH)"
        )
    return path


def manuals_dataset(qa_path: str | None = None, subset: str | None = None) -> BenchDataset:
    """Questions of the manual QA file, each asked against its own manual's hierarchy.

    ``qa_path`` is the QA file itself or the data folder holding ``manuals/manual_qa_dev.jsonl``
    (default: ``$H2MT_DATA``); ``subset`` restricts to ``bash`` or ``postgres`` (default: both).
    """
    p = data_file(qa_path, MANUAL_QA_FILE)
    if not p.is_file():
        raise InputError(f"Manual QA file not found at {p}; pass --data DIR (the folder holding manuals/) "
                         "or the file itself")
    shorts = [subset] if subset else list(MANUALS)
    for s in shorts:
        if s not in MANUALS:
            raise InputError(f"Unknown manual {s!r}; use one of {', '.join(MANUALS)}")
    by_field = {MANUALS[s][0]: s for s in shorts}
    rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["manual"] in by_field]
    groups: dict[str, DocGroup] = {}
    for s in shorts:
        if any(by_field[r["manual"]] == s for r in rows):
            src = manual_source(s)
            groups[s] = DocGroup(s, [src], path_fingerprint([src]), MANUALS[s][0])
    questions = [
        BenchQuestion(r["id"], r["question"], list(r["answers"]), by_field[r["manual"]], evidence=[r["evidence"]],
                      meta={"manual": r["manual"], "part": by_field[r["manual"]], "pages": r.get("pages", [])})
        for r in rows
    ]
    questions.sort(key=lambda q: list(groups).index(q.group))
    name = "manuals" if subset is None else f"manuals-{subset}"
    note = f"{len(questions)} questions from {p.name}: " + ", ".join(
        f"{g.label} {sum(q.group == k for q in questions)}" for k, g in groups.items())
    return BenchDataset(name, questions, groups, "multifieldqa_en", 64, [note])
