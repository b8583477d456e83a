"""h2mt.backends.openai_backend against a tiny OpenAI-compatible server written here (stdlib
``http.server`` in a thread, 127.0.0.1 only): SSE streaming, usage, retries, errors, the facade.
The requests go through the ``openai`` SDK; these tests pin what h2mt promises on top of it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from h2mt import BackendConfig, ConfigError, H2MTConfig, ModelError, PrefillConfig
from h2mt.backends import load_backend
from h2mt.backends.openai_backend import OpenAIBackend
from h2mt.engine import H2MT
from h2mt.types import GenerationStats

pytest.importorskip("openai", reason="pip install 'h2mt[openai]'")

REPLY = ["PIPE", "STATUS holds ", "the exit statuses."]


class FakeServer:
    """Records requests; ``mode`` picks the behaviour of the next replies."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[Message] = []  # case-insensitive lookups
        self.mode = "ok"  # ok | no-usage | slow | error-in-stream | bad-json
        self.unavailable_left = 0  # the next POSTs answer 503 (a server loading its model)
        self.failing_status = 503
        self.drop_left = 0  # the next POSTs close the connection without a reply
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "tiny-served", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.headers.append(self.headers)
                if outer.drop_left > 0:
                    outer.drop_left -= 1
                    self.close_connection = True
                    return
                if outer.unavailable_left > 0:
                    outer.unavailable_left -= 1
                    self._json(outer.failing_status, {"error": {"message": "loading model"}})
                    return
                if self.headers.get("Authorization") == "Bearer sk-wrong":
                    self._json(401, {"error": {"message": "Incorrect API key provided"}})
                    return
                if body.get("model") != "tiny-served":
                    missing = f"The model `{body.get('model')}` does not exist."
                    self._json(404, {"error": {"message": missing}})
                    return
                if body.get("max_tokens", 1) > 1000:
                    self._json(400, {"error": {"message": "max_tokens is too large"}})
                    return
                chat = self.path.endswith("/chat/completions")
                if body.get("stream") is False:
                    choice = {"message": {"role": "assistant", "content": "".join(REPLY)}} if chat else \
                        {"text": "".join(REPLY)}
                    self._json(200, {"choices": [{"index": 0, **choice, "finish_reason": "length"}],
                                     "usage": {"prompt_tokens": 321, "completion_tokens": 7}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, piece in enumerate(REPLY):
                    if outer.mode == "slow" and i == 1:
                        time.sleep(1.5)
                    choice: dict[str, Any] = {"index": 0}
                    choice.update({"delta": {"content": piece}} if chat else {"text": piece})
                    choice["finish_reason"] = "stop" if i == len(REPLY) - 1 else None
                    self._event({"id": "x", "choices": [choice]})
                    if outer.mode == "error-in-stream":
                        self._event({"error": {"message": "out of memory"}})
                        return
                    if outer.mode == "bad-json":
                        self.wfile.write(b"data: {oops\n\n")
                        self.wfile.flush()
                        return
                if outer.mode != "no-usage":
                    usage = {"prompt_tokens": 321, "completion_tokens": 7}
                    self._event({"id": "x", "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, obj: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests._tiny import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


def _backend(url: str, tiny_dir: Path, **kw: Any) -> OpenAIBackend:
    cfg = BackendConfig(kind="openai", base_url=url, tokenizer=str(tiny_dir), **kw)
    b = load_backend(cfg)
    assert isinstance(b, OpenAIBackend)
    return b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="needs base_url"):
        BackendConfig(kind="openai")
    with pytest.raises(ConfigError, match="set kind='openai'"):
        BackendConfig(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="must be local or openai"):
        BackendConfig(kind="vllm")  # type: ignore[arg-type]


def test_streams_messages_with_usage_and_client_ttft(server: FakeServer, tiny_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H2MT_TEST_KEY", "sk-secret-123")
    b = _backend(server.url, tiny_dir, api_key_env="H2MT_TEST_KEY")
    assert "sk-secret" not in repr(b) and "sk-secret" not in b.name
    stats = GenerationStats()
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is PIPESTATUS?"}]
    cfg = PrefillConfig(max_new_tokens=20, stop=("\n## ",))
    pieces = list(b.stream_messages(msgs, cfg, stats))
    assert pieces == REPLY
    req = server.requests[-1]
    assert req["messages"] == msgs and req["stream"] is True
    assert req["stream_options"] == {"include_usage": True}
    assert req["model"] == "tiny-served"  # no model given: the first one the server lists
    assert req["max_tokens"] == 20 and req["stop"] == ["\n## "]
    assert server.headers[-1]["Authorization"] == "Bearer sk-secret-123"
    assert (stats.prompt_tokens, stats.completion_tokens, stats.prefill_ms) == (321, 7, None)
    assert stats.finish_reason == "stop" and 0 < stats.first_token_ms <= stats.total_ms
    # the /completions path (ids templated locally, sent as text) streams the same way
    monkeypatch.setenv("H2MT_TEST_KEY", "sk-rotated-456")  # the key is read at each request
    stats2 = GenerationStats()
    assert "".join(b.stream(b.chat_ids(msgs), cfg, stats2)) == "".join(REPLY)
    assert server.headers[-1]["Authorization"] == "Bearer sk-rotated-456"
    assert "What is PIPESTATUS?" in server.requests[-1]["prompt"] and stats2.prompt_tokens == 321
    # budgets count with the local tokenizer
    assert b.count_tokens(["one two three"]) == b.counter(["one two three"]) and b.context_window == 512


def test_non_streamed_requests_report_usage(server: FakeServer, tiny_dir: Path) -> None:
    b = _backend(server.url, tiny_dir, model="tiny-served", streaming=False)
    stats = GenerationStats()
    msgs = [{"role": "user", "content": "hi"}]
    assert list(b.stream_messages(msgs, PrefillConfig(), stats)) == ["".join(REPLY)]
    assert server.requests[-1]["stream"] is False and "stream_options" not in server.requests[-1]
    assert server.requests[-1]["max_tokens"] == PrefillConfig().answer_tokens > 0  # the task's limit, never 0
    assert (stats.prompt_tokens, stats.completion_tokens, stats.finish_reason) == (321, 7, "length")
    assert stats.first_token_ms == stats.total_ms > 0  # the whole reply arrives at once
    assert list(b.stream(b.chat_ids(msgs), PrefillConfig(), GenerationStats())) == ["".join(REPLY)]


def test_missing_usage_stays_none_and_never_guessed(server: FakeServer, tiny_dir: Path) -> None:
    server.mode = "no-usage"
    b = _backend(server.url, tiny_dir, model="tiny-served")
    stats = GenerationStats()
    assert "".join(b.stream_messages([{"role": "user", "content": "hi"}], PrefillConfig(), stats))
    assert stats.prompt_tokens is None and stats.completion_tokens is None


def test_error_paths_are_clear(server: FakeServer, tiny_dir: Path) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    wrong = _backend(server.url, tiny_dir, model="no-such-model")
    with pytest.raises(ModelError, match=r"rejected the model 'no-such-model' \(404.*not exist.*/models"):
        wrong.stream_messages(msgs, PrefillConfig(), GenerationStats())
    n = len(server.requests)
    with pytest.raises(ModelError, match=r"rejected the request \(400: max_tokens is too large\)"):
        _backend(server.url, tiny_dir, model="tiny-served").stream_messages(
            msgs, PrefillConfig(max_new_tokens=5000), GenerationStats())
    assert len(server.requests) == n + 1  # a 4xx is not retried
    server.unavailable_left = 2  # a server still loading its model: 503, retried with backoff
    ok = _backend(server.url, tiny_dir, model="tiny-served", max_retries=3)
    assert "".join(ok.stream_messages(msgs, PrefillConfig(), GenerationStats())) == "".join(REPLY)
    assert len(server.requests) == n + 4  # two 503s, then the answer
    server.mode = "slow"
    slow = _backend(server.url, tiny_dir, model="tiny-served", timeout_s=0.5)
    with pytest.raises(ModelError, match=r"did not answer within 0.5s"):
        list(slow.stream_messages(msgs, PrefillConfig(), GenerationStats()))
    server.mode = "error-in-stream"
    with pytest.raises(ModelError, match="reported an error while streaming: out of memory"):
        list(ok.stream_messages(msgs, PrefillConfig(), GenerationStats()))
    server.mode = "bad-json"
    with pytest.raises(ModelError, match="sent an event that is not JSON"):
        list(ok.stream_messages(msgs, PrefillConfig(), GenerationStats()))
    with pytest.raises(ModelError, match="prefill logits"):
        ok.prefill_logits([1, 2, 3])


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_replies_are_retried_until_answered(server: FakeServer, tiny_dir: Path, status: int) -> None:
    server.unavailable_left, server.failing_status = 2, status
    b = _backend(server.url, tiny_dir, model="tiny-served", max_retries=2)
    pieces = b.stream_messages([{"role": "user", "content": "hi"}], PrefillConfig(), GenerationStats())
    assert "".join(pieces) == "".join(REPLY)
    assert len(server.requests) == 3


def test_dropped_connections_are_retried_until_answered(server: FakeServer, tiny_dir: Path) -> None:
    server.drop_left = 2  # the server closes the connection without a reply, twice
    b = _backend(server.url, tiny_dir, model="tiny-served", max_retries=2, streaming=False)
    stats = GenerationStats()
    pieces = list(b.stream_messages([{"role": "user", "content": "hi"}], PrefillConfig(), stats))
    assert pieces == ["".join(REPLY)]
    assert len(server.requests) == 3 and stats.prompt_tokens == 321


def test_retries_are_bounded_and_4xx_replies_not_retried(server: FakeServer, tiny_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    server.unavailable_left = 10
    b = _backend(server.url, tiny_dir, model="tiny-served", max_retries=1, api_key_env="H2MT_TEST_KEY")
    with pytest.raises(ModelError, match=r"failed \(503: loading model\) after 1 retries; check its log"):
        b.stream_messages(msgs, PrefillConfig(), GenerationStats())
    assert len(server.requests) == 2  # the first try and one retry
    server.drop_left, server.unavailable_left = 10, 0
    never = _backend(server.url, tiny_dir, model="tiny-served", max_retries=0)
    with pytest.raises(ModelError, match=r"Cannot reach the server at .* after 0 retries"):
        never.stream_messages(msgs, PrefillConfig(), GenerationStats())
    assert len(server.requests) == 3  # max_retries=0: one try only
    server.drop_left = 0
    monkeypatch.setenv("H2MT_TEST_KEY", "sk-wrong")
    with pytest.raises(ModelError, match=r"refused the request \(401: Incorrect API key provided\); "
                                         r"set the API key in \$H2MT_TEST_KEY"):
        b.stream_messages(msgs, PrefillConfig(), GenerationStats())
    assert len(server.requests) == 4  # a 401 is not retried


def test_unset_key_sends_no_authorization(server: FakeServer, tiny_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("H2MT_NO_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")  # only BackendConfig.api_key_env is read
    b = _backend(server.url, tiny_dir, model="tiny-served", api_key_env="H2MT_NO_KEY")
    assert "".join(b.stream_messages([{"role": "user", "content": "hi"}], PrefillConfig(), GenerationStats()))
    assert server.headers[-1].get("Authorization") is None


def test_server_down_fails_quickly(tiny_dir: Path) -> None:
    down = _backend(f"http://127.0.0.1:{_free_port()}/v1", tiny_dir, model="m", max_retries=2)
    t0 = time.perf_counter()
    down_msg = r"Cannot reach the server at http://127.0.0.1:\d+/v1 .* after 2 retries: start it"
    with pytest.raises(ModelError, match=down_msg):
        down.stream_messages([{"role": "user", "content": "hi"}], PrefillConfig(), GenerationStats())
    assert time.perf_counter() - t0 < 10  # bounded backoff (0.25 s + 0.5 s here)


def test_answer_through_the_facade(server: FakeServer, tiny_dir: Path, manual_engine: H2MT) -> None:
    cfg = H2MTConfig(backend=BackendConfig(kind="openai", base_url=server.url, tokenizer=str(tiny_dir)),
                     prefill=PrefillConfig(placed_sentences=False))  # the server generates; nothing quoted
    eng = H2MT(manual_engine.index, cfg, encoder=manual_engine.encoder)
    q = "What does the trap builtin do with signals?"
    ans = eng.answer(q, budget=96)
    assert ans.text == "".join(REPLY).strip() and ans.sources
    acc = ans.accounting
    assert acc.prompt_tokens == 321 and acc.completion_tokens == 7 and acc.prefill_ms is None
    assert acc.ttft_ms > 0 and acc.tokens_kept == sum(s.node.tokens for s in ans.sources) > 0
    sent = server.requests[-1]["messages"]
    assert sent == eng.prompt(q, ans.sources).messages  # the routed prompt's messages, as built
    assert sent[0]["role"] == "system" and q in sent[-1]["content"]  # stable system part first, question last


def test_integrations_take_the_server_backend(server: FakeServer, tiny_dir: Path) -> None:
    """LangChain's ChatH2MT (messages) and LlamaIndex's H2MTLLM (templated ids -> /completions)."""
    b = _backend(server.url, tiny_dir, model="tiny-served")
    lc = pytest.importorskip("h2mt_integrations.langchain")
    msg = lc.ChatH2MT(backend=b).invoke("What is PIPESTATUS?")
    assert msg.content == "".join(REPLY)
    assert server.requests[-1]["messages"][-1] == {"role": "user", "content": "What is PIPESTATUS?"}
    li = pytest.importorskip("h2mt_integrations.llama_index")
    out = li.H2MTLLM(backend=b).complete("What is PIPESTATUS?")
    assert out.text == "".join(REPLY) and "What is PIPESTATUS?" in server.requests[-1]["prompt"]


def test_cli_ask_on_a_server(server: FakeServer, tiny_dir: Path, manual_engine: H2MT, tmp_path: Path) -> None:
    from h2mt.cli.main import app
    from typer.testing import CliRunner

    manual_engine.save(tmp_path / "m.h2mt")
    res = CliRunner().invoke(app, ["ask", str(tmp_path / "m.h2mt"), "What does trap do?", "--budget", "96",
                                   "--server", server.url, "--model", str(tiny_dir), "--json",
                                   "--no-placed-sentences"])  # the server generates; nothing quoted
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["answer"] == "".join(REPLY) and out["sources"]
    assert out["accounting"]["prompt_tokens"] == 321 and out["accounting"]["prefill_ms"] is None
    res = CliRunner().invoke(app, ["ask", str(tmp_path / "m.h2mt"), "What does trap do?", "--budget", "96",
                                   "--server", server.url, "--model", str(tiny_dir), "--no-placed-sentences"])
    assert res.exit_code == 0 and "prefill n/a" in res.output and "".join(REPLY) in res.output
