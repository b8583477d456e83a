"""h2mt.query.prompt: context under breadcrumb headings, chat messages, and the Prompt record."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import replace

import pytest
from h2mt import ConfigError, PrefillConfig
from h2mt.config import TASK_MAX_NEW_TOKENS, TASK_SYSTEM_PROMPTS, AnswerTask
from h2mt.query.prompt import Prompt, breadcrumb, build_messages, build_prompt, format_context
from h2mt.types import Node, NodeKind, ScoredNode


def leaf(i: int, path: tuple[str, ...], text: str, tokens: int = 5) -> Node:
    return Node(i, NodeKind.LEAF, path[-1], -1, [], 0, 0, 0, tokens, len(path), path, text=text)


A = ("Manual", "Signals")
B = ("Manual", "History")
NODES = [leaf(1, A, "trap text", 4), leaf(2, A, "kill text", 6), leaf(3, B, "history text", 3),
         leaf(4, A, "signals again", 7)]


def test_breadcrumb_joins_the_path_and_drops_empty_parts():
    assert breadcrumb(("Manual", "", "Signals", "trap")) == "## Manual > Signals > trap"
    assert breadcrumb(()) == "## "


def test_format_context_adds_a_breadcrumb_only_when_the_path_changes():
    assert format_context(NODES) == "\n\n".join([
        "## Manual > Signals", "trap text", "kill text",  # same path: one heading for both
        "## Manual > History", "history text",
        "## Manual > Signals", "signals again",  # back to an earlier path: a new heading
    ])
    assert format_context(NODES, breadcrumbs=False) == "trap text\n\nkill text\n\nhistory text\n\nsignals again"
    assert format_context([]) == ""


def test_build_messages_layout():
    cfg = PrefillConfig(task="explain", system_prompt="Be brief.")
    msgs = build_messages("  What does trap do?\n", "CTX", cfg)
    assert msgs == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Context:\nCTX\n\nQuestion: What does trap do?"},
    ]


def test_short_answer_layout_asks_before_and_after_the_context():
    msgs = build_messages("What does trap do?", "CTX", PrefillConfig(task="short"))
    assert msgs[0] == {"role": "system", "content": TASK_SYSTEM_PROMPTS[AnswerTask.SHORT]}
    assert msgs[1]["content"] == (
        "Question: What does trap do?\n\nContext:\nCTX\n\nQuestion: What does trap do?\nShort answer:"
    )


def test_each_task_has_its_length_and_stops():
    short, explain = PrefillConfig(task="short"), PrefillConfig(task="explain")
    chat = PrefillConfig(task="chat", stop=("END",))
    assert short.answer_tokens == TASK_MAX_NEW_TOKENS[AnswerTask.SHORT] < explain.answer_tokens
    assert "\n## " in short.stops and "\n\n" in short.stops  # no invented breadcrumb, one short answer
    assert "\n## " in explain.stops and "\n\n" not in explain.stops
    assert chat.stops == ("END",)  # a chat turn gets only the caller's stops
    assert PrefillConfig(max_new_tokens=7).answer_tokens == 7


def test_task_defaults_follow_a_replaced_task():
    """Task defaults are resolved on read: ``replace`` to another task gets that task's length and
    system message (they used to be filled into the fields, so the short task's 48 tokens stuck)."""
    explain = replace(PrefillConfig(), task="explain")
    assert (
        explain.answer_tokens == TASK_MAX_NEW_TOKENS[AnswerTask.EXPLAIN] == PrefillConfig(task="explain").answer_tokens
    )
    assert explain.system_message == TASK_SYSTEM_PROMPTS[AnswerTask.EXPLAIN]
    assert replace(PrefillConfig(max_new_tokens=9), task="explain").answer_tokens == 9  # a given value is kept
    assert replace(PrefillConfig(system_prompt="S"), task="chat").system_message == "S"


def test_prefill_config_never_changes_itself():
    cfg = PrefillConfig()
    assert (cfg.max_new_tokens, cfg.system_prompt) == (0, "")  # the defaults stay "the task's"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.task = AnswerTask.EXPLAIN  # type: ignore[misc]


@pytest.mark.parametrize("field_name, value", [("task", "bogus"), ("mode", "bogus")])
def test_bad_enum_value_is_one_config_error(field_name, value):
    with pytest.raises(ConfigError, match=rf"PrefillConfig.{field_name} must be one of .*; got 'bogus'"):
        PrefillConfig(**{field_name: value})


def test_build_prompt_takes_its_ids_from_the_template():
    cfg = PrefillConfig(system_prompt="S")
    kept = [ScoredNode(n, 1.0 - n.id / 10) for n in NODES[:3]]
    seen: list[list[dict[str, str]]] = []

    def template(messages: Sequence[dict[str, str]]) -> list[int]:
        seen.append([dict(m) for m in messages])
        return [len(m["content"]) for m in messages]

    p = build_prompt("Q?", kept, cfg, template)
    assert p.context == format_context([k.node for k in kept])
    assert p.messages == build_messages("Q?", p.context, cfg)
    assert seen == [p.messages]  # the template saw exactly the messages, once
    assert p.ids == [1, len(p.messages[1]["content"])]
    assert p.question == "Q?" and [s.node.id for s in p.sources] == [1, 2, 3]
    assert p.tokens_kept == 4 + 6 + 3  # the leaves' tokens only: no breadcrumbs, no template
    kept.pop()
    assert len(p.sources) == 3  # the prompt keeps its own list


def test_build_prompt_without_template_or_breadcrumbs():
    p = build_prompt("Q?", [ScoredNode(NODES[2], 0.5)], PrefillConfig(breadcrumbs=False))
    assert p.ids == [] and p.context == "history text" and "##" not in p.messages[1]["content"]
    assert build_prompt("Q?", [], PrefillConfig()).tokens_kept == 0


def test_prompt_of_messages_has_no_sources():
    msgs = [{"role": "user", "content": "hi"}]
    p = Prompt.of_messages(msgs, (5, 6))
    assert (p.question, p.sources, p.context, p.ids, p.tokens_kept) == ("", [], "", [5, 6], 0)
    assert p.messages == msgs and p.messages[0] is not msgs[0]


def test_breadcrumb_shows_a_repeated_level_once():
    path = ("20.5. Write Ahead Log", "20.5. Write Ahead Log", "20.5.1. Settings", "wal_level (enum)")
    assert breadcrumb(path) == "## 20.5. Write Ahead Log > 20.5.1. Settings > wal_level (enum)"
    assert breadcrumb(("A", "", "A", "B", "A")) == "## A > B > A"  # only consecutive repeats go


def test_a_page_heading_equal_to_the_document_title_is_one_level(encoder, counter):
    """A single HTML page whose <title> equals its (h2) heading: the tree stores the level once."""
    from h2mt import H2MT
    from h2mt.index.parse import parse_text

    html = ("<html><head><title>20.5. Write Ahead Log</title></head><body>"
            "<h2>20.5. Write Ahead Log</h2><p>See also the reliability chapter for tuning.</p>"
            "<h3>20.5.1. Settings</h3><p>wal_level determines how much information is written.</p>"
            "</body></html>")
    doc = parse_text(html, "wal.html", "html")
    eng = H2MT.build([doc], encoder=encoder, token_counter=counter)
    for n in eng.index.nodes[1:]:
        assert all(a != b for a, b in zip(n.path, n.path[1:], strict=False)), n.path
    r = eng.route("wal_level settings", budget=1000)
    assert "## 20.5. Write Ahead Log > 20.5.1. Settings" in format_context([k.node for k in r.kept]).split("\n")
