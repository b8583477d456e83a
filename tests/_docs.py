"""Synthetic structured documents for tests (deterministic, no files needed)."""

from __future__ import annotations

import random

from h2mt.types import ParsedDocument, Section

TOPICS = {
    "redirections": "redirect output file descriptor input here string heredoc append",
    "variables": "variable assignment export environment value shell parameter expansion",
    "signals": "signal trap kill exit status fatal number process terminate",
    "config": "server configuration connections memory buffer parameter setting",
    "history": "history list command recall expansion event designator",
}


def make_doc(
    spec: list[tuple[int, str, int]], seed: int = 0, title: str = "Manual", source: str = "<mem>"
) -> ParsedDocument:
    """``spec`` = [(level, title, n_sentences)]; sentences draw words from the title's topic."""
    rng = random.Random(seed)
    text, sections, path = "", [], []
    for level, name, n in spec:
        heading = f"{name}\n"
        text += heading
        words = TOPICS.get(name.split()[-1], " ".join(TOPICS.values())).split()
        start = len(text)
        for i in range(n):
            text += " ".join(rng.choice(words) for _ in range(rng.randint(5, 14))).capitalize() + ". "
            if i % 4 == 3:
                text += "\n\n"
        end = len(text)
        text += "\n"
        path = path[: level - 1] + [name]
        sections.append(Section(name, tuple(path), level, start, end))
    return ParsedDocument(source, title, text, sections)


def manual(seed: int = 0) -> ParsedDocument:
    """A three-level manual with five topical sections."""
    return make_doc(
        [
            (1, "1 Basics", 6),
            (2, "1.1 redirections", 30),
            (2, "1.2 variables", 30),
            (1, "2 Advanced", 4),
            (2, "2.1 signals", 30),
            (3, "2.1.1 history", 20),
            (2, "2.2 config", 40),
        ],
        seed=seed,
    )
