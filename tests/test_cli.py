"""The command line: build / inspect / route / ask, and one-line errors with distinct exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from h2mt import errors
from h2mt.cli.main import main

from tests._tiny import make_tiny_model_dir

MD = """# Guide

Intro paragraph about the guide and what it covers in general terms.

## Redirections

Redirect output to a file with a greater-than sign. Here strings feed a word to standard input.

## Signals

The trap builtin runs a command when the shell receives a signal. A fatal signal N gives exit status 128+N.
"""


def run(argv, capsys):
    sys_argv = sys.argv
    sys.argv = ["h2mt", *map(str, argv)]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.argv = sys_argv
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def built(tmp_path, tiny, capsys):
    (tmp_path / "guide.md").write_text(MD)
    idx = tmp_path / "guide.h2mt"
    code, out, err = run(
        [
            "build",
            tmp_path / "guide.md",
            "-o",
            idx,
            "--encoder",
            "hashing",
            "--model",
            tiny,
            "--max-tokens",
            "32",
        ],
        capsys,
    )
    assert code == 0, err
    assert "wrote" in out and idx.exists()
    return idx


def test_inspect_prints_the_outline(built, capsys):
    code, out, _ = run(["inspect", built], capsys)
    assert code == 0
    assert "Guide" in out and "  Redirections" in out and "Signals" in out and "tok" in out


def test_route_lists_kept_and_pruned(built, capsys):
    code, out, _ = run(
        ["route", built, "trap builtin signal exit status", "--budget", "40", "--text"], capsys
    )
    assert code == 0
    kept = out.split("Pruned")[0]
    assert "Guide > Signals" in kept and "128+N" in kept
    assert "Redirections" not in kept
    acc = out.split("Accounting:\n")[1].splitlines()
    assert re.fullmatch(r"  tokens kept (\d+) / (\d+) \(\d+\.\d\d%\), nodes scored \d+ / \d+", acc[0]), acc
    assert 0 < int(re.findall(r"\d+", acc[0])[0]) <= 40
    assert re.fullmatch(r"  route \d+\.\d ms", acc[1]), acc  # routing only: no prefill or TTFT line
    assert len(acc) == 2


def _section(out: str, head: str) -> str:
    return out.split(head)[1].split("\n", 1)[1].split("Accounting:")[0].split("Pruned branches")[0]


def test_route_lists_every_pruned_branch(built, tmp_path, capsys):
    """Every top-level branch without a kept leaf is listed, whether the beam cut it or it was descended and
    outscored (before, a descended but dropped document was missing: "best 1 of 1")."""
    from h2mt.index.store import load_index

    for name, text in (
        ("deploy.md", "# Deployment Guide\n\nShip the release with the deploy script.\n"),
        ("traps.md", "# Trap Notes\n\nA trap on a signal runs a command; trap lists the traps.\n"),
    ):
        (tmp_path / name).write_text(text)
        assert run(["add", built, tmp_path / name], capsys)[0] == 0
    code, out, _ = run(
        ["route", built, "trap builtin signal exit status", "--budget", "40", "--pruned", "0"], capsys
    )
    assert code == 0
    kept = {int(i) for i in re.findall(r"#(\d+) ", _section(out, "Kept "))}
    pruned = {int(i) for i in re.findall(r"#(\d+) ", out.split("Pruned branches")[1].split("Accounting:")[0])}
    idx = load_index(built)
    under = {a.id for k in kept for a in idx.ancestors(k)}
    documents = set(idx.root.children)
    assert kept and pruned and not pruned & under  # nothing listed holds a kept leaf
    assert documents - under <= pruned  # every document routing dropped is listed
    assert documents - under and len(documents - under) >= 2
    m = re.search(r"Pruned branches \((\d+)\):", out)
    assert m and int(m[1]) == len(pruned)


def test_ask_streams_answer_sources_and_accounting(built, tiny, capsys):
    code, out, err = run(
        [
            "ask",
            built,
            "fatal signal exit status",
            "--budget",
            "40",
            "--model",
            tiny,
            "--max-new-tokens",
            "5",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.startswith("Answer: ")
    assert "Sources:" in out and "Guide > Signals" in out
    assert "prefill" in out and "TTFT" in out and "peak memory" in out


def test_ask_json(built, tiny, capsys):
    code, out, _ = run(
        ["ask", built, "trap", "--budget", "40", "--model", tiny, "--max-new-tokens", "3", "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    assert data["sources"] and data["accounting"]["tokens_kept"] <= 40
    for src in data["sources"]:  # each source carries its leaf text, the slice of the document it names
        assert src["text"].strip() and src["text"].strip() in MD
    assert set(data["accounting"]) >= {
        "tokens_total",
        "tokens_kept",
        "kept_ratio",
        "nodes_scored",
        "nodes_total",
        "route_ms",
        "prefill_ms",
        "ttft_ms",
        "peak_mem_bytes",
    }


@pytest.mark.parametrize(
    "content, exc",
    [
        (b"", errors.ParseError),
        (b"   \n\t \n", errors.ParseError),
        (b"\x00\x01\x02binary\x00" * 100, errors.ParseError),
    ],
)
def test_bad_sources_give_one_line_errors(tmp_path, tiny, capsys, content, exc):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    code, out, err = run(
        ["build", f, "-o", tmp_path / "x.h2mt", "--encoder", "hashing", "--model", tiny], capsys
    )
    assert code == exc.exit_code
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_non_utf8_text_builds(tmp_path, tiny, capsys):
    f = tmp_path / "latin.txt"
    f.write_bytes(
        "Café crème: la configuración del señor Müller. Ça marche très bien, garçon.\n".encode("latin-1") * 20
    )
    code, _, err = run(
        [
            "build",
            f,
            "-o",
            tmp_path / "x.h2mt",
            "--encoder",
            "hashing",
            "--model",
            tiny,
            "--max-tokens",
            "48",
        ],
        capsys,
    )
    assert code == 0, err
    code, out, _ = run(
        ["route", tmp_path / "x.h2mt", "configuración Müller", "--budget", "64", "--text"], capsys
    )
    assert code == 0 and "Müller" in out


def test_index_and_budget_errors(built, tmp_path, capsys):
    code, _, err = run(["route", tmp_path / "missing.h2mt", "q"], capsys)
    assert code == errors.IndexFileError.exit_code and "h2mt build" in err
    code, _, err = run(["route", built, "trap", "--budget", "0"], capsys)
    assert code == errors.BudgetError.exit_code and "budget" in err
    code, _, err = run(["route", built, "trap", "--budget", "1"], capsys)
    assert code == errors.BudgetError.exit_code and "budget" in err
    code, _, err = run(["route", built, "   "], capsys)
    assert code == errors.InputError.exit_code and "empty" in err


def test_no_traceback_in_a_real_process(tmp_path):
    """A parse error needs no model: the source fails before the tokenizer loads (before, without the model
    package this exited 6, model not found). No model marker: H2MT_MODEL points nowhere."""
    f = tmp_path / "empty.md"
    f.write_text("")
    env = {**os.environ, "H2MT_MODEL": str(tmp_path / "no-such-model")}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "h2mt.cli.main",
            "build",
            str(f),
            "-o",
            str(tmp_path / "x.h2mt"),
            "--encoder",
            "hashing",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert p.returncode == errors.ParseError.exit_code
    assert "Traceback" not in p.stderr and "empty" in p.stderr


def test_add_and_remove_documents(built, tmp_path, tiny, capsys):
    extra = tmp_path / "extra.md"
    extra.write_text("# Extra\n\nThe history list recalls previous commands with event designators.\n")
    code, out, err = run(["add", built, extra], capsys)
    assert code == 0, err
    assert out.startswith("added 1 document;") and "now holds 2 documents" in out
    extra.write_text("# Extra\n\nThe history list recalls previous commands with event designators and !!.\n")
    code, out, err = run(["add", built, extra], capsys)  # the same source again: replaced, not added
    assert code == 0, err
    assert out.startswith("replaced 1 document;") and "added" not in out and "now holds 2 documents" in out
    code, out, _ = run(["inspect", built, "--documents"], capsys)
    assert "2 documents" in out and str(extra) in out
    code, out, _ = run(["route", built, "history event designators", "--budget", "120"], capsys)
    assert "Extra" in out.split("Pruned")[0]
    code, out, _ = run(["remove", built, str(extra)], capsys)
    assert code == 0 and "removed 1" in out
    code, _, err = run(["remove", built, "nope.md"], capsys)
    assert code == errors.InputError.exit_code and "nope.md" in err


def test_ask_shows_the_checked_answer_when_it_differs_from_what_streamed(built, tiny, capsys, monkeypatch):
    """A generated "not found" replaced by the kept sentences, a cut instruction, a verdict said first: the
    pieces already shown were the generator's, so the checked answer follows them."""
    from dataclasses import replace

    from h2mt.engine import H2MT

    real = H2MT.stream

    class Checked:
        def __init__(self, inner):
            self._inner, self.answer = inner, None

        def __iter__(self):
            yield from self._inner
            self.answer = replace(self._inner.answer, text="The trap builtin runs a command.")

    monkeypatch.setattr(H2MT, "stream", lambda self, question, **kw: Checked(real(self, question, **kw)))
    argv = ["ask", built, "trap", "--budget", "40", "--model", tiny, "--max-new-tokens", "3"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    streamed = out.split("Answer: ", 1)[1].split("\n\nChecked answer: ")[0]
    assert streamed != "The trap builtin runs a command."  # what the generator streamed is left as it was
    assert "\n\nChecked answer: The trap builtin runs a command.\n\nSources:" in out
    code, out, _ = run([*argv, "--json"], capsys)
    assert code == 0 and json.loads(out)["answer"] == "The trap builtin runs a command."
