"""``h2mt serve`` as a real process on 127.0.0.1: OpenAI clients, errors, auth, the queue, shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import openai
import pytest

from tests.serve._server import BUDGET, Server

KEY = "sk-test-7f3a9c1e5b"  # must never reach a log line
QUESTION = "How do I trap a signal and read its exit status?"
EXTRA = {"task": "chat"}  # a plain chat turn: the tiny model's reply is not cut at a stop string


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    srv = Server(root, "--queue", "0", "--api-key-env", "H2MT_TEST_KEY", "--timeout", "60",
                 env={"H2MT_TEST_KEY": KEY}, endless=True)  # a stream lasts until its max_tokens
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def _healthy(server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    r = httpx.get(server.url + "/v1/models", headers=_auth())
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "manual"


def test_models_lists_the_indexes(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["manual"]
    assert models.data[0].model_extra["h2mt"]["documents"] == 1


def test_openai_client_answers_with_usage_and_sources(server, client):
    resp = client.chat.completions.create(model="manual", messages=[{"role": "user", "content": QUESTION}],
                                          max_tokens=6, extra_body={**EXTRA, "budget": int(BUDGET)})
    assert isinstance(resp.choices[0].message.content, str)
    assert resp.choices[0].finish_reason in ("stop", "length")
    h2mt = resp.model_extra["h2mt"]
    acc = h2mt["accounting"]
    assert resp.usage.prompt_tokens == acc["prompt_tokens"] > 0
    assert 0 < resp.usage.completion_tokens == acc["completion_tokens"] <= 6
    assert acc["tokens_kept"] <= int(BUDGET) and acc["nodes_scored"] > 0 and acc["ttft_ms"] > 0
    routed = httpx.post(server.url + "/v1/route", headers=_auth(),
                        json={"model": "manual", "question": QUESTION, "budget": int(BUDGET)}).json()
    assert [s["node_id"] for s in h2mt["sources"]] == [k["node_id"] for k in routed["kept"]]
    first = h2mt["sources"][0]
    assert set(first) == {"node_id", "path", "source", "start", "end", "score", "text"}
    assert isinstance(first["path"], list) and first["text"] and first["end"] > first["start"]


def test_openai_client_streams_with_usage_chunk(client):
    stream = client.chat.completions.create(model="manual", messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=6, stream=True, stream_options={"include_usage": True},
                                            extra_body=EXTRA)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].model_extra["h2mt"]["sources"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == \
        finish[0].model_extra["h2mt"]["accounting"]["completion_tokens"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) > 0


def test_langchain_chat_openai(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server.url + "/v1", api_key=KEY, model="manual", max_tokens=6,
                     include_response_headers=True, extra_body=EXTRA, max_retries=0)
    msg = llm.invoke(QUESTION)
    assert isinstance(msg.content, str) and msg.usage_metadata["output_tokens"] > 0
    sources = json.loads(msg.response_metadata["headers"]["x-h2mt-sources"])
    assert sources and {"node_id", "path", "score"} <= set(sources[0])
    pieces = list(llm.stream(QUESTION))
    assert len(pieces) > 1


def test_llamaindex_openai_like(server):
    openai_like = pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.core.llms import ChatMessage

    llm = openai_like.OpenAILike(model="manual", api_base=server.url + "/v1", api_key=KEY, is_chat_model=True,
                                 max_tokens=6, additional_kwargs={"extra_body": EXTRA}, max_retries=0)
    resp = llm.chat([ChatMessage(role="user", content=QUESTION)])
    assert isinstance(resp.message.content, str)
    assert resp.raw.model_extra["h2mt"]["sources"]


def test_route_endpoint(server):
    r = httpx.post(server.url + "/v1/route", headers=_auth(),
                   json={"model": "manual", "question": "trap signal kill", "budget": 30, "beam": 2})
    assert r.status_code == 200
    body = r.json()
    kept = {k["node_id"] for k in body["kept"]}
    assert kept and sum(k["tokens"] for k in body["kept"]) <= 30
    assert body["pruned"] and set(body["pruned"][0]) == {"node_id", "path", "score"}
    tree = {n["node_id"]: n for n in body["tree"]}
    assert kept <= set(tree) and all(tree[k]["kept"] for k in kept)
    for n in tree.values():  # top levels, or on the path to a kept leaf
        assert n["depth"] <= 2 or n["kept"]
        assert n["parent"] == -1 or n["parent"] in tree
    pruned = {p["node_id"] for p in body["pruned"]}
    for n in tree.values():  # pruned: a pruned branch or under one; never on a kept path
        under = n["node_id"] in pruned or (n["parent"] in tree and tree[n["parent"]]["pruned"])
        assert n["pruned"] == under and not (n["pruned"] and n["kept"])
    assert set(body["accounting"]) >= {"tokens_total", "tokens_kept", "nodes_scored", "nodes_total", "route_ms"}


BAD = [
    ("unknown model", b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}', 404,
     "model_not_found"),
    ("malformed JSON", b'{"model": "manual", "messages": [', 400, "invalid_json"),
    ("empty messages", b'{"model": "manual", "messages": []}', 400, "empty_messages"),
    ("no user message", b'{"model": "manual", "messages": [{"role": "system", "content": "x"}]}', 400,
     "no_user_message"),
    ("non-UTF-8", b'{"model": "manual", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400,
     "invalid_encoding"),
    ("budget 0", b'{"model": "manual", "budget": 0, "messages": [{"role": "user", "content": "hi"}]}', 400,
     "invalid_value"),
    ("10 MB body", b'{"model": "manual", "pad": "' + b"x" * (10 << 20) + b'"}', 413, "request_too_large"),
]


@pytest.mark.parametrize(("what", "body", "status", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_one_line_openai_errors(server, what, body, status, code):
    r = httpx.post(server.url + "/v1/chat/completions", content=body, timeout=30,
                   headers={**_auth(), "content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == code
    assert err["message"] and "\n" not in err["message"] and len(err["message"]) < 300
    _healthy(server)


def test_openai_client_sees_404_for_a_wrong_model(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": KEY}])
def test_missing_or_wrong_key_is_401_and_never_logged(server, headers):
    r = httpx.post(server.url + "/v1/chat/completions", headers=headers,
                   json={"model": "manual", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(server.url + "/v1/models", headers=headers).status_code == 401
    _healthy(server)
    log = server.log_text()
    assert KEY not in log and "wrong-key" not in log


def _start_stream(server, max_tokens: int) -> tuple[httpx.Client, httpx.Response, object]:
    c = httpx.Client(timeout=60)
    body = {"model": "manual", "stream": True, "max_tokens": max_tokens, "task": "chat",
            "messages": [{"role": "user", "content": QUESTION}]}
    resp = c.send(c.build_request("POST", server.url + "/v1/chat/completions", json=body, headers=_auth()),
                  stream=True)
    assert resp.status_code == 200
    lines = resp.iter_lines()
    seen = 0
    for line in lines:  # the role chunk, then a first piece of text: the generator is busy
        seen += line.startswith("data: {")
        if seen >= 2:
            break
    return c, resp, lines  # the caller holds the line iterator: dropping it closes the stream


def _metric(server, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_past_the_queue_bound_is_429_then_a_dropped_stream_frees_the_slot(server):
    rejected = _metric(server, "h2mt_rejected_total")
    cancelled = _metric(server, 'h2mt_generations_cancelled_total{reason="disconnect"}')
    c, resp, lines = _start_stream(server, max_tokens=2000)  # 2000 tokens, many seconds, of generation if left alone
    busy = httpx.post(server.url + "/v1/chat/completions", headers=_auth(),
                      json={"model": "manual", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "rate_limit_exceeded"
    assert _metric(server, "h2mt_rejected_total") == rejected + 1
    assert _metric(server, "h2mt_in_flight") == 1
    del lines
    resp.close()
    c.close()  # the client drops mid-stream
    t0 = time.monotonic()
    for _ in range(20):  # the server notices the closed connection within milliseconds
        nxt = httpx.post(server.url + "/v1/chat/completions", headers=_auth(), timeout=60,
                         json={"model": "manual", "max_tokens": 2, **EXTRA,
                               "messages": [{"role": "user", "content": "hi"}]})
        if nxt.status_code != 429:
            break
        time.sleep(0.05)
    assert nxt.status_code == 200, nxt.text
    assert time.monotonic() - t0 < 3.0  # far sooner than the 1000-token generation would have ended
    assert _metric(server, 'h2mt_generations_cancelled_total{reason="disconnect"}') == cancelled + 1


def test_health_ready_and_metrics(server):
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
    text = httpx.get(server.url + "/metrics").text
    for name in ("h2mt_requests_total", "h2mt_request_duration_seconds_bucket", "h2mt_queue_depth",
                 "h2mt_in_flight", "h2mt_rejected_total", "h2mt_ttft_seconds_count"):
        assert name in text, name
    assert 'endpoint="/v1/chat/completions",method="POST",status="200"' in text
    assert _metric(server, "h2mt_queue_depth") == 0


def test_access_log_is_json_without_prompts(server):
    lines = [json.loads(x) for x in server.log_text().splitlines() if x.startswith('{"ts"')]
    chat = [x for x in lines if x["path"] == "/v1/chat/completions"]
    assert chat and {"method", "path", "status", "ms", "model"} <= set(chat[0])
    assert any(x["status"] == 200 and x["model"] == "manual" for x in chat)
    assert QUESTION not in server.log_text()


def test_sigterm_during_a_stream_finishes_it_and_exits_0(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("sigterm"), "--grace", "20", name="sigterm")
    srv.wait_ready()
    c = httpx.Client(timeout=60)
    body = {"model": "manual", "stream": True, "max_tokens": 20, "task": "chat",
            "messages": [{"role": "user", "content": QUESTION}]}
    with c.stream("POST", srv.url + "/v1/chat/completions", json=body) as resp:
        lines = resp.iter_lines()
        first = next(x for x in lines if x.startswith("data: {"))
        assert first
        srv.proc.send_signal(signal.SIGTERM)
        rest = [x for x in lines if x]
    assert rest[-1] == "data: [DONE]" and any('"h2mt"' in x for x in rest)
    assert srv.proc.wait(30) == 0
    srv.stop()


def test_bad_options_fail_in_one_line_before_loading(tmp_path):
    base = [sys.executable, "-m", "h2mt.cli.main", "serve"]
    for args, words in [
        ([str(tmp_path / "missing.h2mt")], "not an index file"),
        ([str(tmp_path / "x.h2mt"), "--queue", "-1"], "--queue"),
        ([str(tmp_path / "x.h2mt"), "--api-key-env", "H2MT_UNSET_KEY_VAR"], "H2MT_UNSET_KEY_VAR"),
        ([str(tmp_path / "x.h2mt"), "--prefill", "nope"], "--prefill"),
    ]:
        (tmp_path / "x.h2mt").write_bytes(b"")
        out = subprocess.run(base + args, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        errors = [line for line in out.stderr.splitlines() if "rror" in line]
        assert len(errors) == 1 and words in errors[0], out.stderr


@pytest.mark.integration
def test_default_generator_answers(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("default"), tiny_model=False, name="default")
    try:
        srv.wait_ready(timeout=300)
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        resp = client.chat.completions.create(model="manual", max_tokens=16,
                                              messages=[{"role": "user", "content": "What does trap do?"}])
        assert resp.choices[0].message.content.strip()
        assert resp.model_extra["h2mt"]["sources"] and resp.usage.completion_tokens > 0
    finally:
        assert srv.stop() == 0
