"""Append-only JSONL result logs (resumable: done keys are skipped) and machine information."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["RowLog", "row_key", "read_rows", "machine_info", "SELECTION", "GENERATION", "MEMORY", "RUNS"]

SELECTION = "selection.jsonl"  # one row per (dataset, method, budget, question): selection metrics
GENERATION = "generation.jsonl"  # one row per (dataset, method, budget, question): answer, F1, timings
MEMORY = "memory.jsonl"  # one row per generation worker process: its peak memory
RUNS = "runs.jsonl"  # one row per `h2mt bench` invocation: command, machine, wall times


def row_key(dataset: str, method: str, budget: int, qid: str) -> str:
    """The resume key of one measurement (budget 0 = budget-independent)."""
    return f"{dataset}|{method}|{budget}|{qid}"


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All JSON rows of a JSONL file (a torn last line from an interrupted run is ignored)."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RowLog:
    """An append-only JSONL file; :attr:`done` holds the keys already written."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.done = {r["key"] for r in read_rows(self.path) if "key" in r}

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and flush it to disk (so an interrupted run loses at most one row)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if "key" in row:
            self.done.add(row["key"])

    def pending(self, keys: Iterable[str]) -> list[str]:
        """The keys of ``keys`` not written yet, in order."""
        return [k for k in keys if k not in self.done]


def machine_info() -> dict[str, Any]:
    """Where and when a run happens: CPU count, load average, platform, Python, torch threads."""
    info: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    else:  # not imported yet (a run's start): the installed version, without importing it
        from importlib.metadata import PackageNotFoundError, version

        try:
            info["torch"] = version("torch")
        except PackageNotFoundError:
            pass
    return info
