"""The question path (route -> prompt -> generate) is pinned: same routes, prompt ids and greedy
answers on the Bash manual's dev questions as recorded in ``fixtures/question_path_bash.json``
(see ``tests/_question_path.py``, which re-records it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import _question_path as qp
from tests._tiny import make_tiny_model_dir

FIXTURE = Path(__file__).parent / "fixtures" / "question_path_bash.json"

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not (qp.BASH.exists() and qp.QA.exists()), reason="needs bash-doc and ../shared/data"),
]


@pytest.fixture(scope="module")
def recorded() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def current(tmp_path_factory) -> list[dict]:
    return qp.record(make_tiny_model_dir(tmp_path_factory.mktemp("tiny")))


def test_every_dev_question_is_pinned(recorded):
    assert [r["question"] for r in recorded] == qp.bash_questions()


def test_routes_are_unchanged(recorded, current):
    for old, new in zip(recorded, current, strict=True):
        assert new["kept"] == old["kept"], old["question"]
        assert new["scores"] == pytest.approx(old["scores"], abs=1e-4), old["question"]


def test_prompt_ids_are_unchanged(recorded, current):
    for old, new in zip(recorded, current, strict=True):
        assert new["prompt_ids"] == old["prompt_ids"], old["question"]


def test_greedy_answers_are_unchanged(recorded, current):
    for old, new in zip(recorded, current, strict=True):
        assert new["answer"] == old["answer"], old["question"]
