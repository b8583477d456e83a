"""OpenAI's wire shapes: request parsing and validation, responses, stream chunks, errors.

Every error the server gives is :class:`ApiError`, sent as OpenAI's error object
``{"error": {"message", "type", "param", "code"}}`` with a one-line message. h2mt's request
options ride as extra body fields (``budget``, ``beam``, ``task``), which OpenAI clients pass
through (``extra_body``); its answer details ride in an extra ``h2mt`` field that they ignore.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..config import AnswerTask

__all__ = [
    "ApiError",
    "ChatRequest",
    "RouteRequest",
    "decode_json",
    "parse_chat",
    "parse_route",
    "completion_id",
    "completion_body",
    "chunk_body",
    "usage_body",
    "models_body",
    "sse",
    "SSE_DONE",
]

SSE_DONE = b"data: [DONE]\n\n"
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ApiError(Exception):
    """An HTTP error in OpenAI's error shape (``status``, one-line ``message``, ``type``, ``param``, ``code``)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - OpenAI's field name
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = " ".join(message.split())  # always one line
        super().__init__(self.message)
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}`` as OpenAI sends it."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _shown(value: Any) -> str:
    """A short one-line rendering of a client value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def decode_json(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``: 400 for a body that is empty, not UTF-8, not JSON, or not an object."""
    if not body.strip():
        raise _bad("The request body is empty: send a JSON object", code="invalid_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad(f"The request body is not valid UTF-8 (byte {e.start}): send UTF-8 JSON",
                   code="invalid_encoding") from e
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(f"The request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                   code="invalid_json") from e
    if not isinstance(obj, dict):
        raise _bad(f"The request body must be a JSON object, got {type(obj).__name__}", code="invalid_json")
    return obj


def _opt_int(obj: dict[str, Any], name: str, minimum: int) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(f"'{name}' must be an integer >= {minimum}, got {_shown(value)}", name)
    return value


def _opt_float(obj: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(f"'{name}' must be a number in [{low:g}, {high:g}], got {_shown(value)}", name)
    return float(value)


def _model(obj: dict[str, Any]) -> str:
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: name an index (GET /v1/models lists them)", "model", "missing_model")
    return model


def _content(message: dict[str, Any], i: int) -> str:
    """A message's text: a string, or the text parts of a content list."""
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"messages[{i}].content: only text parts are supported", f"messages[{i}].content")
            texts.append(part["text"])
        return "\n".join(texts)
    raise _bad(f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content")


def _question(obj: dict[str, Any]) -> str:
    """The last user message of ``messages`` (the question routed through the index)."""
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list of chat messages", "messages", "empty_messages")
    question = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise _bad(f"messages[{i}] must be an object with a role ({', '.join(_ROLES)})", f"messages[{i}]")
        text = _content(m, i)
        if m["role"] == "user":
            question = text
    if question is None:
        raise _bad("'messages' holds no user message: the last user message is the question", "messages",
                   "no_user_message")
    if not question.strip():
        raise _bad("The last user message is empty: ask something about the indexed documents", "messages",
                   "empty_question")
    return question


def _task(obj: dict[str, Any]) -> AnswerTask | None:
    value = obj.get("task")
    if value is None:
        return None
    allowed = [t.value for t in AnswerTask]
    if value not in allowed:
        raise _bad(f"'task' must be one of {', '.join(allowed)}, got {_shown(value)}", "task")
    return AnswerTask(value)


def _stop(obj: dict[str, Any]) -> tuple[str, ...]:
    value = obj.get("stop")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items) or len(items) > 4:
        raise _bad("'stop' must be a string or a list of up to 4 strings", "stop")
    return tuple(s for s in items if s)


@dataclass(frozen=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body (the parts h2mt uses)."""

    model: str  # the index id
    question: str  # the last user message
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a final usage chunk
    budget: int | None = None  # h2mt: context token budget (None = the server's)
    beam: int | None = None  # h2mt: beam width (None = the server's)
    task: AnswerTask | None = None  # h2mt: short | explain | chat (None = the server's)
    max_tokens: int | None = None  # generation limit (None = the task's)
    temperature: float | None = None  # None = the server's (greedy)
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


def parse_chat(obj: dict[str, Any]) -> ChatRequest:
    """Validate a chat completion request; 400 with a one-line message naming the bad field."""
    model = _model(obj)
    question = _question(obj)
    stream = obj.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad(f"'stream' must be true or false, got {_shown(stream)}", "stream")
    options = obj.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")
    n = _opt_int(obj, "n", 1)
    if n not in (None, 1):
        raise _bad(f"'n' must be 1 (one answer per request), got {n}", "n")
    max_tokens = _opt_int(obj, "max_completion_tokens", 1)
    return ChatRequest(
        model=model,
        question=question,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
        budget=_opt_int(obj, "budget", 1),
        beam=_opt_int(obj, "beam", 1),
        task=_task(obj),
        max_tokens=max_tokens if max_tokens is not None else _opt_int(obj, "max_tokens", 1),
        temperature=_opt_float(obj, "temperature", 0.0, 2.0),
        top_p=_opt_float(obj, "top_p", 1e-9, 1.0),
        stop=_stop(obj),
        seed=_opt_int(obj, "seed", 0),
    )


@dataclass(frozen=True)
class RouteRequest:
    """A validated ``POST /v1/route`` body."""

    model: str
    question: str
    budget: int | None = None
    beam: int | None = None


def parse_route(obj: dict[str, Any]) -> RouteRequest:
    """Validate a route request; 400 with a one-line message naming the bad field."""
    model = _model(obj)
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _bad("'question' must be a non-empty string", "question", "empty_question")
    return RouteRequest(model, question, _opt_int(obj, "budget", 1), _opt_int(obj, "beam", 1))


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_body(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int]:
    """OpenAI's ``usage`` (counts the model did not report are 0 here; the h2mt accounting keeps None)."""
    p, c = prompt_tokens or 0, completion_tokens or 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion_body(
    cid: str, model: str, text: str, finish_reason: str, usage: dict[str, int], h2mt: dict[str, Any]
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` with the extra ``h2mt`` field."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }],
        "usage": usage,
        "h2mt": h2mt,
    }


def chunk_body(
    cid: str,
    model: str,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    *,
    with_usage: bool = False,
    usage: dict[str, int] | None = None,
    h2mt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``: ``delta=None`` makes the final usage chunk (no choices)."""
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [] if delta is None else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if with_usage:
        body["usage"] = usage
    if h2mt is not None:
        body["h2mt"] = h2mt
    return body


def models_body(models: dict[str, dict[str, Any]], created: int) -> dict[str, Any]:
    """``GET /v1/models``: one entry per index (its id, and h2mt's facts about it)."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "h2mt", "h2mt": info}
            for name, info in models.items()
        ],
    }


def sse(obj: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``obj`` as JSON."""
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"
