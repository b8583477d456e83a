"""``h2mt serve INDEX...``: the OpenAI-compatible server on uvicorn. Option checks and startup only.

Every option is checked before any model loads; the indexes load next (a bad file fails in one
line), then the server listens while the encoder and the generator load, and ``/readyz`` turns
200 once they have. SIGTERM stops accepting connections, lets in-flight requests finish for the
grace period (then cancels them) and exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from ..config import BackendConfig, H2MTConfig, PrefillConfig, PrefillMode, RouteConfig
from ..errors import ConfigError, InputError
from ..serve.config import ServeConfig
from .common import check_device, check_model, choice, default, option_names

__all__ = ["register", "serve", "index_names"]

_OPTIONS = {
    "RouteConfig.budget": "--budget",
    "budget=1024": "--budget 1024",
    "RouteConfig.beam_width": "--beam",
    "ServeConfig.host": "--host",
    "ServeConfig.port": "--port",
    "ServeConfig.queue": "--queue",
    "ServeConfig.timeout_s": "--timeout",
    "ServeConfig.max_body_bytes": "--max-body-bytes",
    "ServeConfig.grace_s": "--grace",
    "ServeConfig.api_key_env": "--api-key-env",
}


def index_names(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named by its file stem) -> {name: path}; a missing file, a folder
    or a name given twice is refused in one line."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or "/" in name:
            name, path = Path(spec).stem, spec
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{path} is not an index file: give INDEX.h2mt or NAME=INDEX.h2mt (build one with "
                             "`h2mt build SOURCES -o INDEX.h2mt`)")
        if name in out:
            raise InputError(f"Two indexes are named {name!r}: name them apart with NAME=PATH")
        out[name] = p
    return out


def serve(
    indexes: list[str] = typer.Argument(..., help="Index files; NAME=PATH serves one as model NAME "
                                                  "(default: the file stem)."),
    host: str = typer.Option(default(ServeConfig, "host"), help="Bind address (0.0.0.0 exposes it)."),
    port: int = typer.Option(default(ServeConfig, "port"), help="TCP port."),
    model: str | None = typer.Option(None, callback=check_model,
                                     help="Generator: preset, HF folder or GGUF file (default: the default preset)."),
    device: str = typer.Option(default(BackendConfig, "device"), callback=check_device,
                               help="auto, cpu, cuda, cuda:N or mps."),
    prefill: str = choice(PrefillMode, default(PrefillConfig, "mode"),
                          help="What kept leaves become (memory, hybrid need indexes built with --memories hmt)."),
    budget: int = typer.Option(default(RouteConfig, "budget"), help="Default context token budget (a request's "
                                                                   "'budget' overrides it)."),
    beam: int = typer.Option(default(RouteConfig, "beam_width"), help="Default beam width ('beam' overrides it)."),
    api_key_env: str | None = typer.Option(None, help="Require 'Authorization: Bearer KEY', KEY read from this "
                                                      "environment variable (e.g. H2MT_API_KEY)."),
    queue: int = typer.Option(default(ServeConfig, "queue"), help="Requests that may wait for the generator; "
                                                                  "more get 429."),
    timeout: float = typer.Option(default(ServeConfig, "timeout_s"), help="Per-request timeout in seconds."),
    max_body_bytes: int = typer.Option(default(ServeConfig, "max_body_bytes"), help="Largest request body."),
    grace: float = typer.Option(default(ServeConfig, "grace_s"), help="Seconds in-flight requests get on SIGTERM."),
    log_prompts: bool = typer.Option(False, "--log-prompts", help="Put questions in the access log."),
) -> None:
    """Serve INDEX... to OpenAI-compatible clients (each index is a model)."""
    with option_names(_OPTIONS):
        cfg = ServeConfig(host=host, port=port, queue=queue, timeout_s=timeout, max_body_bytes=max_body_bytes,
                          api_key_env=api_key_env, log_prompts=log_prompts, grace_s=grace)
        cfg.api_key()  # an unset key variable fails now, not at the first request
        h2 = H2MTConfig(route=RouteConfig(budget=budget, beam_width=beam),
                        prefill=PrefillConfig(mode=PrefillMode(prefill)),
                        backend=BackendConfig(model=model, device=device))
    paths = index_names(indexes)
    try:
        import uvicorn

        from ..serve import create_app
    except ImportError as e:
        raise ConfigError(f"h2mt serve needs {e.name}, which is not installed: pip install 'h2mt[serve]'") from e
    engines = _load(paths, h2)
    _logging()
    failed: list[BaseException] = []
    server: Any = None

    def warm_failed(e: BaseException) -> None:
        failed.append(e)
        server.should_exit = True

    app = create_app(engines, cfg, on_warm_error=warm_failed)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, access_log=False,
                                           timeout_graceful_shutdown=int(cfg.grace_s) or 1, log_level="info"))
    typer.echo(f"h2mt serve: {', '.join(engines)} on http://{cfg.host}:{cfg.port}/v1 "
               f"(ready when GET /readyz answers 200)", err=True)
    previous = signal.signal(signal.SIGTERM, _ignore)  # uvicorn re-raises SIGTERM after its graceful stop
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise failed[0]
    if not server.started:
        sys.exit(1)  # e.g. the port is taken (uvicorn said why)


def _ignore(signum: int, frame: Any) -> None:
    """The SIGTERM handler around the server: uvicorn handles the signal; afterwards the process exits 0."""


def _load(paths: dict[str, Path], cfg: H2MTConfig) -> dict[str, Any]:
    """Load the indexes (the generator and encoders load once the server listens)."""
    from ..engine import H2MT
    from ..index.memories import require_memories

    engines = {}
    for name, path in paths.items():
        eng = H2MT.load(path, cfg)
        if cfg.prefill.mode != PrefillMode.TEXT:
            require_memories(eng.index, f"--prefill {cfg.prefill.mode.value} ({name})")
        engines[name] = eng
    return engines


def _logging() -> None:
    """The access log as JSON lines on stderr, and the server's own progress lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("h2mt.serve.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    logging.getLogger("h2mt.serve.app").setLevel(logging.INFO)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``h2mt`` command group."""
    app.command(name="serve")(serve)
