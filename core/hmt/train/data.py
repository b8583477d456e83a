"""Real long text that installs offline (Debian manuals), split by document, and training windows.

Sources (``apt-get install python3.11-doc bash-doc postgresql-doc-15``): every HTML page of the
Python 3.11 documentation, the Bash Reference Manual and every page of the PostgreSQL 15 manual
(generated index pages skipped). Document names keep the package folder
(``python3.11/html/library/os.html``, ``bash-doc/bashref.html``, ``postgresql-doc-15/html/...``).
HTML becomes text with :mod:`h2mt.index.parse`. :func:`split_documents` assigns each document to the
train or eval side by a hash of its name, so the split never depends on order or on which
other documents are installed, and no evaluation document is ever trained on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError

__all__ = [
    "ALWAYS_HELD_OUT",
    "DEFAULT_SOURCES",
    "Document",
    "TokenizedDocument",
    "WindowSampler",
    "is_eval_document",
    "load_corpus",
    "split_documents",
    "tokenize_documents",
]

log = logging.getLogger(__name__)

DEFAULT_SOURCES = (
    "/usr/share/doc/python3.11/html",
    "/usr/share/doc/bash-doc/bashref.html",
    "/usr/share/doc/postgresql-doc-15/html",
)
_SKIP_DIRS = {"_static", "_images", "_sources", "_downloads"}
_SKIP_PAGES = ("genindex", "py-modindex", "bookindex", "search.html")  # generated index pages, not prose
ALWAYS_HELD_OUT = ("bash-doc/bashref.html",)  # the Bash manual: h2mt's QA benchmark document, never trained on
APT_HINT = "sudo apt-get install python3.11-doc bash-doc postgresql-doc-15"


@dataclass(frozen=True)
class Document:
    """One document: a stable name (source-relative path) and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class TokenizedDocument:
    """A document as token ids (no special tokens)."""

    name: str
    ids: tuple[int, ...]


def _html_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        out.extend(
            Path(dirpath) / f
            for f in sorted(filenames)
            if f.endswith((".html", ".htm")) and not f.startswith(_SKIP_PAGES)
        )
    return out


def load_corpus(sources: Sequence[str] | None = None, min_chars: int = 2000, progress: bool = False) -> list[Document]:
    """All documents under ``sources`` (default :data:`DEFAULT_SOURCES`) with >= ``min_chars`` of text.

    Missing sources are skipped with a warning; none found at all raises :class:`InputError`.
    """
    from tqdm.auto import tqdm

    from ...errors import ParseError
    from ...index.parse.html import parse_html_file

    roots = [Path(s) for s in (sources or DEFAULT_SOURCES)]
    files: list[tuple[Path, str]] = []  # (file, stable document name)
    for root in roots:
        if not root.exists():
            log.warning("HMT corpus source %s is missing (install it with: %s)", root, APT_HINT)
            continue
        if root.is_file():
            files.append((root, f"{root.parent.name}/{root.name}"))
        else:
            files.extend((f, str(f.relative_to(root.parent.parent))) for f in _html_files(root))
    if not files:
        raise InputError(f"no HMT training text found under {[str(r) for r in roots]}; install it: {APT_HINT}")
    docs: list[Document] = []
    for f, name in tqdm(files, desc="parse corpus", unit="page", disable=not progress):
        try:
            text = parse_html_file(f).text
        except ParseError as exc:
            log.warning("skipping %s: %s", f, exc)
            continue
        if len(text) >= min_chars:
            docs.append(Document(name, text))
    log.info("HMT corpus: %d documents from %d pages", len(docs), len(files))
    return docs


def is_eval_document(name: str, eval_fraction: float = 0.1, salt: str = "h2mt-hmt-split-v1") -> bool:
    """True when document ``name`` belongs to the held-out evaluation side (hash of the name).

    Documents in :data:`ALWAYS_HELD_OUT` (the Bash manual) are always held out.
    """
    if name in ALWAYS_HELD_OUT:
        return True
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < eval_fraction


def split_documents(docs: Iterable[Document], eval_fraction: float = 0.1) -> tuple[list[Document], list[Document]]:
    """``(train, eval)`` split by document name; deterministic and order-independent."""
    train: list[Document] = []
    held: list[Document] = []
    for d in docs:
        (held if is_eval_document(d.name, eval_fraction) else train).append(d)
    return train, held


def tokenize_documents(docs: Iterable[Document], tokenizer: Any) -> list[TokenizedDocument]:
    """Token ids of every document (no special tokens)."""
    out = []
    for d in docs:
        ids = tokenizer(d.text, add_special_tokens=False)["input_ids"]
        out.append(TokenizedDocument(d.name, tuple(int(i) for i in ids)))
    return out


class WindowSampler:
    """Random windows of ``length`` tokens from single documents (never across documents).

    Documents are drawn in proportion to how many windows they hold; offsets are uniform.
    The generator is seeded, and :meth:`state`/:meth:`set_state` let a resumed run continue
    the exact same sequence of windows.
    """

    def __init__(self, docs: Sequence[TokenizedDocument], length: int, seed: int = 0) -> None:
        import numpy as np

        self.length = length
        self.docs = [d for d in docs if len(d.ids) >= length]
        if not self.docs:
            longest = max((len(d.ids) for d in docs), default=0)
            raise InputError(
                f"no training document has {length} tokens (longest: {longest}); use fewer unrolled "
                "segments or a shorter segment_len."
            )
        weights = np.array([len(d.ids) - length + 1 for d in self.docs], dtype=np.float64)
        self.p = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> list[list[int]]:
        """``batch`` windows of ``length`` token ids."""
        out = []
        for _ in range(batch):
            d = self.docs[int(self.rng.choice(len(self.docs), p=self.p))]
            start = int(self.rng.integers(0, len(d.ids) - self.length + 1))
            out.append(list(d.ids[start : start + self.length]))
        return out

    def state(self) -> dict[str, Any]:
        """The generator state (JSON-able)."""
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a generator state from :meth:`state`."""
        self.rng.bit_generator.state = state
