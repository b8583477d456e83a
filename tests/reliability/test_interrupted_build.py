"""Killing a build at any moment never leaves a half-written or unreadable index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from h2mt.index.store import load_index, save_index

from tests._tiny import make_tiny_model_dir


def _cmd(src, out, tiny):
    return [
        sys.executable, "-m", "h2mt.cli.main", "build", str(src), "-o", str(out),
        "--encoder", "hashing", "--model", str(tiny),
    ]


@pytest.mark.timeout(900)
def test_killed_builds_keep_the_previous_index(tmp_path):
    tiny = make_tiny_model_dir(tmp_path / "tiny")
    small, big, out = tmp_path / "small.md", tmp_path / "big.md", tmp_path / "idx.h2mt"
    small.write_text("# Old\n\nThe old index talks about signals and traps.\n")
    big.write_text("".join(
        f"## Section {i}\n\n" + f"Paragraph {i} about redirections and variables. " * 40 + "\n\n" for i in range(400)
    ))
    subprocess.run(_cmd(small, out, tiny), check=True, capture_output=True, timeout=300)
    old = out.read_bytes()
    old_nodes = len(load_index(out).nodes)
    finished = False
    for delay in (0.5, 1.5, 3.0, 5.0, 8.0, 12.0, 20.0):
        p = subprocess.Popen(_cmd(big, out, tiny), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        idx = load_index(out)  # never half-written: either the old index or the complete new one
        if out.read_bytes() == old:
            assert len(idx.nodes) == old_nodes
        else:
            finished = True
            assert len(idx.nodes) > old_nodes
            break
    stray = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    save_index(load_index(out), out)  # a later write removes temp files of killed writers
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")], stray
    assert finished or out.read_bytes() == old
