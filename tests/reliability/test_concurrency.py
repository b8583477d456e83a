"""One loaded pipeline shared by many threads gives exactly the single-threaded results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from h2mt import H2MT, BackendConfig, ChunkConfig, H2MTConfig, PrefillConfig

from tests._docs import make_doc
from tests._tiny import make_tiny_model_dir

QUESTIONS = ["trap kill signal", "export variable", "history event", "server memory", "redirect output"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, encoder):
    from h2mt.backends import load_backend

    backend = load_backend(BackendConfig(model=str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))), device="cpu"))
    doc = make_doc([(1, "1 redirections", 2), (1, "2 signals", 2), (2, "2.1 history", 1), (1, "3 config", 2)])
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=32, min_tokens=4),
                     prefill=PrefillConfig(max_new_tokens=4, system_prompt="Answer briefly."))
    return H2MT.build([doc], cfg, encoder=encoder, backend=backend)


def _work(engine, i):
    q = QUESTIONS[i % len(QUESTIONS)]
    if i % 5 == 0:  # every fifth query generates; the rest only route
        a = engine.answer(q, budget=60)
        return q, tuple(s.node.id for s in a.sources), a.text
    r = engine.route(q, budget=60)
    return q, tuple(k.node.id for k in r.kept), tuple(round(k.score, 9) for k in r.kept)


def test_8_threads_x_25_queries_equal_single_threaded(engine):
    n = 8 * 25
    expected = [_work(engine, i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda i: _work(engine, i), range(n)))
    assert got == expected
