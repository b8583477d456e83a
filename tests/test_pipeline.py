"""End to end on a tiny random Llama: route -> pruned prefill -> streamed answer + accounting."""

from __future__ import annotations

import pytest
import torch
from h2mt import H2MT, BackendConfig, BudgetError, ChunkConfig, H2MTConfig, PrefillConfig
from h2mt.query.prompt import build_messages, format_context

from tests._docs import make_doc
from tests._tiny import make_tiny_model_dir


@pytest.fixture(scope="module")
def tiny_backend(tmp_path_factory):
    from h2mt.backends import load_backend

    path = make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))
    return load_backend(BackendConfig(model=str(path), device="cpu"))


@pytest.fixture(scope="module")
def engine(tiny_backend, encoder):
    doc = make_doc([(1, "1 redirections", 2), (1, "2 signals", 2), (2, "2.1 history", 1), (1, "3 config", 2)])
    cfg = H2MTConfig(
        chunk=ChunkConfig(max_tokens=32, min_tokens=4),
        prefill=PrefillConfig(task="explain", max_new_tokens=12, system_prompt="Answer briefly."),
    )
    return H2MT.build([doc], cfg, encoder=encoder, backend=tiny_backend)


def test_leaves_are_measured_with_the_generator_tokenizer(engine, tiny_backend):
    for leaf in engine.index.leaves():
        assert leaf.tokens == tiny_backend.count_tokens([leaf.text])[0] <= 32


def test_answer_carries_sources_and_accounting(engine):
    ans = engine.answer("trap kill signal", budget=70)
    acc = ans.accounting
    assert ans.sources and sum(s.node.tokens for s in ans.sources) == acc.tokens_kept <= 70
    assert acc.tokens_total == engine.index.tokens_total > acc.tokens_kept
    assert 0 < acc.kept_ratio < 1
    assert acc.prompt_tokens > acc.tokens_kept  # template + breadcrumbs + question
    assert 0 < acc.completion_tokens <= 12
    assert acc.route_ms > 0 and acc.prefill_ms > 0
    assert acc.ttft_ms >= acc.route_ms + acc.prefill_ms
    assert acc.total_ms >= acc.ttft_ms
    assert acc.peak_mem_bytes > 0
    assert 0 < acc.nodes_scored <= acc.nodes_total
    assert all(s.node.text in ans.context for s in ans.sources)
    pruned_text = [n.text for n in engine.index.leaves() if n.id not in {s.node.id for s in ans.sources}]
    assert not any(t in ans.context for t in pruned_text)


def test_stream_pieces_form_the_answer(engine):
    s = engine.stream("export environment variable", budget=40)
    pieces = list(s)
    assert s.answer is not None and "".join(pieces).strip() == s.answer.text


def test_keep_all_routing_reproduces_full_prompt_and_logits(engine, tiny_backend):
    q = "history event designator"
    routed = engine.route(q, budget=engine.index.tokens_total)
    assert [k.node.id for k in routed.kept] == [n.id for n in engine.index.leaves()]
    prompt = engine.prompt(q, routed.kept)
    # the full-context prompt, made by hand: every leaf in document order, then the chat template
    cfg = engine.config.prefill
    full_context = format_context(engine.index.leaves(), cfg.breadcrumbs)
    full_ids = tiny_backend.chat_ids(build_messages(q, full_context, cfg))
    assert prompt.context == full_context and prompt.ids == full_ids
    assert engine.prompt(q, engine.full_context()).ids == full_ids
    assert all(n.text in full_context for n in engine.index.leaves())
    la, _ = tiny_backend.prefill_logits(prompt.ids)
    lb, _ = tiny_backend.prefill_logits(full_ids)
    torch.testing.assert_close(la, lb)
    a = engine.answer(q, budget=engine.index.tokens_total)
    b = engine.answer(q, full=True)
    assert a.text == b.text and a.accounting.prompt_tokens == b.accounting.prompt_tokens


def test_pruned_prompt_is_shorter_than_full(engine):
    a = engine.answer("server configuration", budget=40)
    b = engine.answer("server configuration", full=True)
    assert a.accounting.prompt_tokens < b.accounting.prompt_tokens
    assert b.accounting.nodes_scored == 0 and b.accounting.tokens_kept == b.accounting.tokens_total


def test_prompt_longer_than_the_model_is_a_budget_error(engine, tiny_backend):
    with pytest.raises(BudgetError):
        engine.answer("signals " * 600, budget=60)  # question alone exceeds the 512-token tiny model


def test_async_api_matches_sync_and_does_not_block(engine):
    import asyncio

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        t = asyncio.create_task(ticker())
        r = await engine.aroute("trap kill signal", budget=70)
        items = [x async for x in engine.astream("trap kill signal", budget=70)]
        a = await engine.aanswer("trap kill signal", budget=70)
        t.cancel()
        return r, items, a, ticks

    r, items, a, ticks = asyncio.run(main())
    sync = engine.answer("trap kill signal", budget=70)
    assert [k.node.id for k in r.kept] == [k.node.id for k in sync.sources]
    *pieces, final = items
    assert "".join(pieces).strip() == final.text == a.text == sync.text
    assert ticks > 0  # the loop kept running while the model worked


def test_a_question_too_long_for_the_model_says_to_shorten_it(engine):
    with pytest.raises(BudgetError, match="shorten the question") as err:
        engine.answer("signals " * 600, budget=60)
    assert "lower the context budget" not in str(err.value)  # a smaller budget cannot make it fit


def test_aiter_blocking_hands_over_errors_deadlines_and_closes_the_producer():
    import asyncio

    from h2mt.aio import aiter_blocking

    closed: list[bool] = []

    def gen():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    def broken():
        raise ValueError("cannot start")

    def slow():
        import time

        yield 1
        time.sleep(0.5)
        yield 2

    async def main():
        got = []
        async for x in aiter_blocking(gen):
            got.append(x)
            break  # the consumer stops early: the producer's generator is closed in its thread
        with pytest.raises(ValueError, match="cannot start"):  # an error making the iterable reaches the consumer
            async for _ in aiter_blocking(broken):
                pass
        loop = asyncio.get_running_loop()
        seen = []
        with pytest.raises(TimeoutError):
            async for x in aiter_blocking(slow, loop.time() + 0.2):
                seen.append(x)
        return got, seen

    got, seen = asyncio.run(main())
    assert got == [1] and closed == [True] and seen == [1]
