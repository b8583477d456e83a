"""One run in a fresh Python process, so that its peak memory is its own.

The parent calls :func:`run_module`: it writes the run's spec as JSON, runs
``python -m MODULE SPEC.json OUT.json`` (with extra environment variables if asked), streams or
collects the child's stderr, raises :class:`RunFailed` (with the last stderr lines) when the
child exits non-zero or writes no result, and returns the result JSON read back. The child's
``__main__`` is :func:`worker_main` around one function ``spec -> result``.

Used by the benchmark's generation workers (:mod:`h2mt.eval.worker`), the prefill benchmark
(:mod:`h2mt.eval.prefill_worker`) and the HMT perplexity evaluation
(:mod:`h2mt.hmt.train.evaluate`). Standard library only.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import H2MTError

__all__ = ["RunFailed", "run_module", "worker_main"]

_TAIL_BYTES = 16384  # stderr kept for the error message


class RunFailed(H2MTError, RuntimeError):
    """A run's process exited non-zero or wrote no result; :attr:`reason` is its last stderr line."""

    def __init__(self, module: str, returncode: int, stderr_tail: str) -> None:
        self.module, self.returncode, self.stderr_tail = module, returncode, stderr_tail
        lines = [line for line in stderr_tail.splitlines() if line.strip()]
        self.reason = lines[-1].strip() if lines else f"exit {returncode}"
        what = f"exited with {returncode}" if returncode else "wrote no result"
        super().__init__(f"python -m {module} {what}: {self.reason}")


def run_module(
    module: str,
    spec: Mapping[str, Any],
    workdir: str | os.PathLike[str],
    *,
    name: str = "run",
    env: Mapping[str, str] | None = None,
    stream_stderr: bool = False,
) -> dict[str, Any]:
    """Run ``python -m module WORKDIR/NAME.spec.json WORKDIR/NAME.result.json`` and return the result.

    ``env`` adds to (or overrides) this process's environment. With ``stream_stderr`` the
    child's stderr (progress bars, warnings) is passed on to this process's stderr as it comes;
    either way its tail is kept for the :class:`RunFailed` raised when the child fails.
    """
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    spec_file, out_file = folder / f"{name}.spec.json", folder / f"{name}.result.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    out_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", module, str(spec_file), str(out_file)]
    child_env = None if env is None else {**os.environ, **env}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, bufsize=0, env=child_env)
    assert proc.stderr is not None
    tail, decoder = b"", codecs.getincrementaldecoder("utf-8")(errors="replace")
    with proc.stderr:
        while chunk := os.read(proc.stderr.fileno(), 65536):  # whatever has come (progress bars end in \r)
            tail = (tail + chunk)[-_TAIL_BYTES:]
            if stream_stderr:
                sys.stderr.write(decoder.decode(chunk))
                sys.stderr.flush()
    code = proc.wait()
    if code != 0 or not out_file.is_file():
        raise RunFailed(module, code, tail.decode("utf-8", errors="replace"))
    result: dict[str, Any] = json.loads(out_file.read_text(encoding="utf-8"))
    return result


def worker_main(run: Callable[[dict[str, Any]], dict[str, Any]], argv: Sequence[str] | None = None) -> int:
    """The child's entry point: ``run(spec)`` on ``SPEC.json``, its result written to ``OUT.json``.

    The result file is written atomically, so a child killed midway leaves none. Returns the exit
    status (2 on a wrong command line); an exception in ``run`` propagates (traceback, exit 1).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 2:
        sys.stderr.write("usage: python -m MODULE SPEC.json OUT.json\n")
        return 2
    logging.basicConfig(level=logging.WARNING)
    result = run(json.loads(Path(args[0]).read_text(encoding="utf-8")))
    out = Path(args[1])
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, out)
    return 0
