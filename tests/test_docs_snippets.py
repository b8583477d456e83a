"""Every fenced ```python snippet of README.md and docs/integrations/*.md runs (issue 27, item 12).

Each page runs in a fresh subprocess, its snippets in order in one namespace (a later snippet may
use what an earlier one made), in a temporary folder that holds what the pages name: a small
Bash-manual-like HTML file (for ``/usr/share/doc/bash-doc/bashref.html``), a ``notes/`` folder of
Markdown and a saved index ``pg.h2mt`` over it. The generator is a tiny random Llama
(``$H2MT_MODEL``, so "the default model" of a snippet is the tiny one) and the default encoder
is the hashing encoder: the snippets' plumbing is checked, not answer quality. Fast: one model
load per page, no real weights.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "integrations").glob("*.md"))]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
BASHREF = "/usr/share/doc/bash-doc/bashref.html"

MANUAL_HTML = """<html><head><title>Bash Reference Manual</title></head><body>
<h1>Bash Reference Manual</h1>
<h2>3 Basic Shell Features</h2><p>The shell reads commands and runs them.</p>
<h2>5 Shell Variables</h2>
<h3>5.2 Bash Variables</h3>
<p>FUNCNEST: if set to a numeric value greater than 0, defines a maximum function nesting level.</p>
<p>PIPESTATUS: an array variable holding the exit statuses of the last foreground pipeline.</p>
</body></html>
"""
NOTES = {
    "config.md": "# Server Configuration\n\n## Resource Consumption\n\nwork_mem sets the memory of a sort "
                 "operation. The default value is four megabytes.\n\n## Checkpoints\n\ncheckpoint_timeout is "
                 "five minutes by default.\n",
    "shell.md": "# Shell Guide\n\n## Variables\n\nPIPESTATUS holds the exit statuses of a pipeline.\n\n"
                "## Signals\n\nA command killed by fatal signal N exits with status 128+N.\n",
}

# Runs in the subprocess before the page: the hashing encoder stands in for the embedded MiniLM.
PREAMBLE = r"""
import json, sys, traceback
import h2mt.engine as engine
import h2mt.index.encoders.base as base
import h2mt.index.encoders.shared as shared

real = base.load_encoder

def load_encoder(spec, backend=None):
    if base.encoder_config(spec).kind == "sentence-transformers":
        return base.HashingEncoder(256)
    return real(spec, backend)

for module in (base, shared, engine):
    module.load_encoder = load_encoder

snippets = json.loads(open(sys.argv[1], encoding="utf-8").read())
namespace = {"__name__": "__docs__"}
for i, (line, code) in enumerate(snippets):
    try:
        exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"snippet {i + 1} of {sys.argv[2]} (line {line}) failed")
"""


def snippets(page: Path) -> list[tuple[int, str]]:
    """(first line, code) of each fenced python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from h2mt import H2MT, ChunkConfig, H2MTConfig
    from h2mt.index.encoders.base import HashingEncoder

    from tests._tiny import make_tiny_model_dir

    root = tmp_path_factory.mktemp("docs")
    model = make_tiny_model_dir(root / "tiny-model")
    cfg_path = model / "config.json"  # rotary positions: a longer window costs nothing in a tiny model
    cfg = json.loads(cfg_path.read_text())
    cfg["max_position_embeddings"] = 8192
    cfg_path.write_text(json.dumps(cfg))
    (root / "bashref.html").write_text(MANUAL_HTML, encoding="utf-8")
    notes = root / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    from h2mt.backends import load_counter
    from h2mt.config import BackendConfig

    counter = load_counter(BackendConfig(model=str(model)))
    H2MT.build([notes], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=4)),
               encoder=HashingEncoder(256), token_counter=counter).save(root / "pg.h2mt")
    return root


def test_the_pages_have_snippets() -> None:
    assert all(snippets(p) for p in PAGES), [p.name for p in PAGES if not snippets(p)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_snippets_run(page: Path, workdir: Path) -> None:
    if "integrations" in page.parts:
        pytest.importorskip("langchain_core" if "langchain" in page.name else "llama_index.core")
    code = [(line, src.replace(BASHREF, str(workdir / "bashref.html"))) for line, src in snippets(page)]
    spec = workdir / f"{page.stem}.json"
    spec.write_text(json.dumps(code), encoding="utf-8")
    env = {**__import__("os").environ, "H2MT_MODEL": str(workdir / "tiny-model"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", PREAMBLE, str(spec), page.name], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
