"""Where the benchmark data lives: ``--data DIR`` or ``$H2MT_DATA``, never a path inside the package.

The data folder holds ``hotpotqa/`` and ``manuals/`` (the layout of ``shared/data`` beside a
checkout, described in its README). A loader's ``data`` argument may also name one dataset's
input file directly (a HotpotQA or manual-QA JSONL of the same format).
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import InputError

__all__ = ["DATA_ENV", "HOTPOT_FILE", "MANUAL_QA_FILE", "data_dir", "data_file", "is_data_dir"]

DATA_ENV = "H2MT_DATA"
"""Environment variable naming the data folder when ``--data`` is not given."""

HOTPOT_FILE = "hotpotqa/hotpot_dev_distractor_50.jsonl"
"""The HotpotQA questions, relative to the data folder."""

MANUAL_QA_FILE = "manuals/manual_qa_dev.jsonl"
"""The manual QA file, relative to the data folder."""


def data_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``given`` (``--data DIR``), else ``$H2MT_DATA``; an :class:`InputError` otherwise."""
    raw = given if given is not None else os.environ.get(DATA_ENV) or None
    if raw is None:
        raise InputError(f"No benchmark data folder: pass --data DIR or set {DATA_ENV}=DIR "
                         "(the folder that holds hotpotqa/ and manuals/)")
    path = Path(raw).expanduser()
    if not path.is_dir():
        source = "--data" if given is not None else DATA_ENV
        raise InputError(f"The benchmark data folder {path} ({source}) does not exist; pass --data DIR or set "
                         f"{DATA_ENV}=DIR (the folder that holds hotpotqa/ and manuals/)")
    return path


def is_data_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a data folder (it holds ``hotpotqa/`` or ``manuals/``)."""
    p = Path(path)
    return p.is_dir() and ((p / "hotpotqa").is_dir() or (p / "manuals").is_dir())


def data_file(given: str | os.PathLike[str] | None, relative: str) -> Path:
    """A dataset's input file: ``given`` itself when it is not a folder, else ``relative`` inside the
    data folder (``given``, or ``$H2MT_DATA`` when ``given`` is None)."""
    if given is not None and not Path(given).is_dir():
        return Path(given)
    return data_dir(given) / relative
