"""A name question's short answer that only echoes the question is asked again as a short answer that
may not start with the echoed word (``PrefillConfig.echo_short_retry``, ``not_first_words``), before
the brief retry."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.backends import load_backend
from h2mt.backends.decoding import without_tokens
from h2mt.config import AnswerTask, BackendConfig
from h2mt.errors import ConfigError
from h2mt.types import GenerationStats

from tests._tiny import make_tiny_model_dir
from tests.test_answer_task import ScriptedBackend

NOTE = ("# Completion\n\nWhen programmable completion is enabled and the progcomp_alias option is set, a command "
        "word without completions is tried as an alias and completed as what the alias expands to.\n")
QUESTION = "Which shopt setting makes programmable completion look through an alias?"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return load_backend(BackendConfig(model=str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))), device="cpu"))


def test_without_tokens_removes_only_the_banned_scores():
    logits = torch.tensor([3.0, -1.0, 0.5, 2.0])  # (V,)
    out = without_tokens(logits, [0, 3, 0])
    assert torch.isneginf(out[[0, 3]]).all() and out[1].item() == -1.0 and out[2].item() == 0.5
    assert logits[0].item() == 3.0  # the input is left as it was
    assert int(torch.argmax(out)) == 2


def _reply(backend, cfg: PrefillConfig) -> str:
    ids = backend.chat_ids([{"role": "user", "content": "Name a colour."}])
    return "".join(backend.stream(ids, cfg, GenerationStats()))


def test_the_reply_does_not_start_with_a_banned_word(tiny, monkeypatch):
    import h2mt.backends.transformers_backend as tb

    free = PrefillConfig(task="short", max_new_tokens=4)
    logits, _ = tiny.prefill_logits(tiny.chat_ids([{"role": "user", "content": "Name a colour."}]))
    best = int(torch.argmax(logits))
    word = next(w for i in torch.argsort(logits, descending=True).tolist()
                if (w := tiny.tokenizer.decode([i])).strip() and tiny.encode(w) == [i])  # the likeliest word token
    banned_id = tiny.encode(word)[0]
    seen: list[tuple[torch.Tensor, int]] = []
    choose = tb.choose_next_token

    def recording(step_logits, *args, **kw):
        token = choose(step_logits, *args, **kw)
        seen.append((step_logits.clone(), token))
        return token

    monkeypatch.setattr(tb, "choose_next_token", recording)
    _reply(tiny, free)
    assert seen[0][1] == best  # greedy: the best first token
    seen.clear()
    _reply(tiny, replace(free, not_first_words=(word,)))
    first_logits, first = seen[0]
    assert torch.isneginf(first_logits[banned_id]) and first != banned_id
    assert not torch.isneginf(seen[1][0][banned_id])  # only the first token is constrained
    with pytest.raises(ConfigError, match="not_first_words"):
        replace(free, not_first_words=(" ",))


def _engine(tmp_path, encoder, counter, backend: ScriptedBackend, **prefill) -> H2MT:
    (tmp_path / "completion.md").write_text(NOTE, encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task="auto", **prefill))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=backend)


def test_an_echo_is_answered_again_without_its_first_word(tmp_path, encoder, counter):
    be = ScriptedBackend("shopt", "progcomp_alias")
    ans = _engine(tmp_path, encoder, counter, be, echo_short_retry=True).answer(QUESTION, budget=400)
    assert ans.text == "progcomp_alias"
    assert be.calls == 2 and be.cfgs[1].task == AnswerTask.SHORT
    assert be.cfgs[1].not_first_words == ("shopt", "`shopt")
    assert "echo of the question: answered again" in ans.accounting.task_reason
    assert ans.accounting.completion_tokens == 2  # both generations counted


def test_without_the_option_or_when_the_second_answer_fails_the_brief_retry_follows(tmp_path, encoder, counter):
    be = ScriptedBackend("shopt", "The progcomp_alias option.")
    ans = _engine(tmp_path, encoder, counter, be).answer(QUESTION, budget=400)  # off: as before
    assert be.calls == 2 and be.cfgs[1].task == AnswerTask.BRIEF and be.cfgs[1].not_first_words == ()
    assert "retried as brief: echo of the question" in ans.accounting.task_reason
    be = ScriptedBackend("shopt", "shopt", "The progcomp_alias option.")  # the second answer echoes too
    ans = _engine(tmp_path, encoder, counter, be, echo_short_retry=True).answer(QUESTION, budget=400)
    assert be.calls == 3 and be.cfgs[2].task == AnswerTask.BRIEF
    assert "progcomp_alias" in ans.text and "retried as brief" in ans.accounting.task_reason
    assert ans.accounting.completion_tokens == 1 + 1 + 3  # every generation's tokens


def test_a_question_asking_for_no_name_is_not_answered_again(tmp_path, encoder, counter):
    be = ScriptedBackend("alias", "It is tried as an alias.")
    _engine(tmp_path, encoder, counter, be, echo_short_retry=True).answer(
        "When is a command word tried as an alias by completion?", budget=400)
    assert all(cfg.not_first_words == () for cfg in be.cfgs)
