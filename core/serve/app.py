"""``create_app``: the FastAPI application of ``h2mt serve`` (OpenAI-compatible, over loaded indexes).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` (streamed or not), ``POST /v1/route``,
``GET /healthz``, ``GET /readyz``, ``GET /metrics``, and the page in ``static/`` at ``/`` when it
is there. Every error is in OpenAI's error shape. The engines share one loaded generator
(:func:`h2mt.backends.shared.shared_backend`); :class:`~h2mt.serve.limits.GenerationGate` lets
one request use it at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from ..aio import run_blocking
from ..engine import H2MT
from ..errors import H2MTError
from .auth import BearerAuth
from .completion import Finished, Routed, api_error_of, completion_events
from .config import ServeConfig
from .limits import GenerationGate
from .metrics import ServeMetrics
from .middleware import AccessLog, BodyLimit
from .openai_schema import (
    SSE_DONE,
    ApiError,
    ChatRequest,
    chunk_body,
    completion_body,
    completion_id,
    decode_json,
    models_body,
    parse_chat,
    parse_route,
    sse,
    usage_body,
)
from .route_view import h2mt_field, route_json, sources_header
from .streaming import ResponseWriter, WatchedResponse, sse_start

__all__ = ["create_app", "ServeState", "STATIC_DIR"]

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


class ServeState:
    """What the endpoints share: the engines by index id, the config, the gate, metrics, readiness."""

    def __init__(self, engines: dict[str, H2MT], cfg: ServeConfig) -> None:
        self.engines = engines
        self.cfg = cfg
        self.gate = GenerationGate(cfg.queue, cfg.retry_after_s)
        self.metrics = ServeMetrics(lambda: self.gate.waiting, lambda: self.gate.active)
        self.ready = False
        self.failure: str | None = None  # why warming up failed
        self.created = int(time.time())

    def engine(self, model: str) -> H2MT:
        """The engine serving index ``model``; 404 in OpenAI's shape when there is none."""
        eng = self.engines.get(model)
        if eng is None:
            raise ApiError(404, f"The model {model!r} does not exist: use one of {', '.join(self.engines)} "
                                "(GET /v1/models)", param="model", code="model_not_found")
        return eng

    def require_ready(self) -> None:
        """503 while the model and indexes are still loading (or failed to)."""
        if not self.ready:
            why = self.failure or "the model and indexes are still loading"
            raise ApiError(503, f"Not ready: {why}", type="service_unavailable", code="not_ready",
                           headers={"Retry-After": "1"})


def _warm(engines: dict[str, H2MT]) -> None:
    """Load each index's encoder and the (shared) generator before the server reports ready."""
    for eng in engines.values():
        _ = eng.encoder, eng.backend


def create_app(
    engines: dict[str, H2MT],
    cfg: ServeConfig | None = None,
    *,
    warm: bool = True,
    on_warm_error: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """The server app over ``engines`` (index id -> engine). With ``warm`` the encoders and the
    generator load in the background at startup and ``/readyz`` turns 200 when they are loaded
    (``on_warm_error`` is called if that fails); otherwise the app is ready at once."""
    if not engines:
        raise ValueError("create_app needs at least one engine")
    config = cfg or ServeConfig()
    api_key = config.api_key()
    state = ServeState(engines, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.ensure_future(_warm_up(state, warm, on_warm_error))
        yield
        task.cancel()

    app = FastAPI(title="h2mt", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.h2mt = state
    _errors(app)
    _routes(app, state)
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    if api_key is not None:
        app.add_middleware(BearerAuth, key=api_key)
    app.add_middleware(AccessLog, metrics=state.metrics, log_prompts=config.log_prompts)
    return app


async def _warm_up(state: ServeState, warm: bool, on_error: Callable[[BaseException], None] | None) -> None:
    if warm:
        try:
            await run_blocking(lambda: _warm(state.engines))
        except Exception as e:  # noqa: BLE001 - reported through /readyz and on_error
            state.failure = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.error("loading failed: %s", state.failure)
            if on_error is not None:
                on_error(e)
            return
    state.ready = True
    log.info("ready: %s", ", ".join(state.engines))


def _errors(app: FastAPI) -> None:
    """Every error in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Response:
        request.state.h2mt_error = e.code
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(H2MTError)
    async def h2mt_error(request: Request, e: H2MTError) -> Response:
        return await api_error(request, api_error_of(e))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        code = "not_found" if e.status_code == 404 else f"http_{e.status_code}"
        err = ApiError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", code=code,
                       headers=dict(e.headers or {}))
        return await api_error(request, err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        return await api_error(request, ApiError(400, f"Invalid request: {e.errors()[:1]}"))


def _routes(app: FastAPI, state: ServeState) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        state.require_ready()
        return {"status": "ready", "models": list(state.engines)}

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        info = {
            name: {"documents": len(e.index.documents), "nodes": len(e.index.nodes),
                   "tokens_total": e.index.tokens_total}
            for name, e in state.engines.items()
        }
        return models_body(info, state.created)

    @app.post("/v1/route")
    async def route(request: Request) -> dict[str, Any]:
        req = parse_route(decode_json(await request.body()))
        request.state.h2mt_model = req.model
        if state.cfg.log_prompts:
            request.state.h2mt_prompt = req.question
        eng = state.engine(req.model)
        state.require_ready()
        r = await run_blocking(lambda: eng.route(req.question, budget=req.budget, beam_width=req.beam))
        return route_json(eng.index, r)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        req = parse_chat(decode_json(await request.body()))
        request.state.h2mt_model = req.model
        request.state.h2mt_stream = req.stream
        if state.cfg.log_prompts:
            request.state.h2mt_prompt = req.question
        eng = state.engine(req.model)
        state.require_ready()
        events = completion_events(eng, req, state.gate, state.cfg.timeout_s, state.metrics)
        write = _stream_writer if req.stream else _json_writer

        async def run(writer: ResponseWriter) -> None:
            try:
                await write(writer, eng, req, events)
            finally:
                await events.aclose()

        return WatchedResponse(run)


async def _json_writer(writer: ResponseWriter, eng: H2MT, req: ChatRequest,
                       events: AsyncIterator[Routed | str | Finished]) -> None:
    """A non-streamed completion: wait for the whole answer, send one JSON body."""
    done: Finished | None = None
    async for item in events:
        if isinstance(item, Finished):
            done = item
    assert done is not None, "the question path ended without an answer"
    acc = done.answer.accounting
    body = completion_body(completion_id(), req.model, done.answer.text, done.finish_reason,
                           usage_body(acc.prompt_tokens, acc.completion_tokens),
                           h2mt_field(eng.index, done.answer, done.queue_ms))
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await writer.start(200, {"content-type": "application/json", "content-length": str(len(data)),
                             "x-h2mt-sources": sources_header(eng.index, done.answer.sources)})
    await writer.body(data, more=False)


async def _stream_writer(writer: ResponseWriter, eng: H2MT, req: ChatRequest,
                         events: AsyncIterator[Routed | str | Finished]) -> None:
    """A streamed completion: SSE chunks as the text is generated; the last content chunk carries
    ``h2mt``, then an optional usage chunk, then ``[DONE]``."""
    cid = completion_id()
    use = req.include_usage
    async for item in events:
        if isinstance(item, Routed):  # the response starts once the request holds the generator
            await writer.start(200, sse_start({"x-h2mt-sources": sources_header(eng.index, item.prompt.sources)}),
                               event_stream=True)
            await writer.body(sse(chunk_body(cid, req.model, {"role": "assistant", "content": ""},
                                             with_usage=use)))
        elif isinstance(item, str):
            if item:
                await writer.body(sse(chunk_body(cid, req.model, {"content": item}, with_usage=use)))
        else:
            acc = item.answer.accounting
            await writer.body(sse(chunk_body(cid, req.model, {}, item.finish_reason, with_usage=use,
                                             h2mt=h2mt_field(eng.index, item.answer, item.queue_ms))))
            if use:
                usage = usage_body(acc.prompt_tokens, acc.completion_tokens)
                await writer.body(sse(chunk_body(cid, req.model, None, with_usage=True, usage=usage)))
    await writer.body(SSE_DONE, more=False)
