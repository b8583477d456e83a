"""The reply's first token chosen among given words (``PrefillConfig.first_words``), and its use
under ``task="auto"``: a yes/no question's brief answer starts with the generator's own choice
between "Yes" and "No" (``PrefillConfig.verdict_first``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from h2mt import PrefillConfig
from h2mt.backends import load_backend
from h2mt.backends.decoding import only_tokens
from h2mt.config import BackendConfig
from h2mt.errors import ConfigError
from h2mt.query.answer import VERDICT_WORDS
from h2mt.types import GenerationStats

from tests._tiny import make_tiny_model_dir
from tests.test_answer_task import ScriptedBackend, _engine

YES_NO = "Does the cache keep session entries after a restart of the whole server?"  # no kept sentence states it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return load_backend(BackendConfig(model=str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))), device="cpu"))


def test_only_tokens_leaves_the_allowed_scores_and_nothing_else():
    logits = torch.tensor([3.0, -1.0, 0.5, 2.0])  # (V,)
    out = only_tokens(logits, [2, 1, 2])
    assert out[1].item() == -1.0 and out[2].item() == 0.5
    assert torch.isneginf(out[[0, 3]]).all()
    assert int(torch.argmax(out)) == 2  # the best allowed, not the best overall (0)


def _generate(backend, cfg: PrefillConfig) -> tuple[str, list[int]]:
    ids = backend.chat_ids([{"role": "user", "content": "Is Paris the capital of France?"}])
    text = "".join(backend.stream(ids, cfg, GenerationStats()))
    return text, backend.encode(text)


def test_the_first_token_is_one_of_the_first_words(tiny):
    free = PrefillConfig(task="brief", max_new_tokens=6)
    text, _ = _generate(tiny, free)
    logits, _ = tiny.prefill_logits(tiny.chat_ids([{"role": "user", "content": "Is Paris the capital of France?"}]))
    ranked = torch.argsort(logits, descending=True).tolist()
    best = ranked[0]
    # a word whose first token the model prefers anyway changes nothing (greedy parity)
    same, _ = _generate(tiny, replace(free, first_words=(tiny.tokenizer.decode([best]),)))
    assert same == text
    # two words the model ranks low: the first token is the better of the two, whatever it preferred
    spelled = [i for i in reversed(ranked) if (w := tiny.tokenizer.decode([i])).strip() and tiny.encode(w) == [i]]
    low = spelled[:2]  # the two least likely tokens that are words of their own
    words = tuple(tiny.tokenizer.decode([i]) for i in low)
    forced, _ = _generate(tiny, replace(free, first_words=words))
    assert forced.startswith(words[1]) and not text.startswith(words[1])


def test_first_words_must_be_words():
    with pytest.raises(ConfigError, match="first_words"):
        PrefillConfig(first_words=("Yes", " "))
    assert PrefillConfig(first_words=["Yes", "No"]).first_words == ("Yes", "No")  # type: ignore[arg-type]


def _verdict_first(eng, backend, on: bool = True):
    """``eng`` over the same index with ``PrefillConfig.verdict_first`` set to ``on``."""
    cfg = replace(eng.config, prefill=replace(eng.config.prefill, verdict_first=on))
    return type(eng)(eng.index, cfg, encoder=eng.encoder, backend=backend)


def test_a_yes_no_question_gets_its_verdict_chosen_first(tmp_path, encoder, counter, monkeypatch):
    monkeypatch.setattr("h2mt.engine.evidence_quote", lambda *a, **k: None)  # generated, not quoted
    monkeypatch.setattr("h2mt.engine.placed_quote", lambda *a, **k: None)
    be = ScriptedBackend("No, entries are dropped on restart.")
    ans = _verdict_first(_engine(tmp_path, encoder, counter, be), be).answer(YES_NO)
    assert be.cfgs[-1].first_words == VERDICT_WORDS
    assert ans.accounting.task == "brief" and "Yes and No first" in ans.accounting.task_reason
    assert ans.text.startswith("No, entries are dropped")


@pytest.mark.parametrize("question", ["What does CACHE_TTL control?", "How long are database snapshots kept?"])
def test_other_questions_generate_freely(tmp_path, encoder, counter, monkeypatch, question):
    monkeypatch.setattr("h2mt.engine.evidence_quote", lambda *a, **k: None)
    monkeypatch.setattr("h2mt.engine.placed_quote", lambda *a, **k: None)
    be = ScriptedBackend("35 days")
    _verdict_first(_engine(tmp_path, encoder, counter, be), be).answer(question)
    assert be.cfgs and all(c.first_words == () for c in be.cfgs)


def test_no_constraint_by_default_when_forced_or_on_a_server(tmp_path, encoder, counter, monkeypatch):
    monkeypatch.setattr("h2mt.engine.evidence_quote", lambda *a, **k: None)
    monkeypatch.setattr("h2mt.engine.placed_quote", lambda *a, **k: None)
    be = ScriptedBackend("Entries are dropped on restart.")
    eng = _engine(tmp_path, encoder, counter, be)
    assert not eng.config.prefill.verdict_first  # off by default
    eng.answer(YES_NO)
    assert be.cfgs[-1].first_words == ()
    _verdict_first(_engine(tmp_path, encoder, counter, be, task="brief"), be).answer(YES_NO)  # a forced task
    assert be.cfgs[-1].first_words == ()
    be.takes_messages = True  # a server templates the messages and returns text: no logits to constrain
    _verdict_first(eng, be).answer(YES_NO)
    assert be.cfgs[-1].first_words == ()
