#!/usr/bin/env python
# ruff: noqa: T201 - a command-line script: it prints its progress and its table
"""Bounded load test of ``h2mt serve`` on loopback: a fixed number of requests, stops by itself.

    .venv/bin/python scripts/serve_load.py --index bash.h2mt --model smollm2-135m

Starts ``h2mt serve INDEX`` on 127.0.0.1 (or uses ``--url`` of one already running, with ``--pid``
for its memory), then:

1. asks ``/v1/route`` once per question of a fixed list: the reference kept leaves;
2. runs ``--clients`` concurrent clients x ``--requests`` streamed chat completions each
   (questions from the list in turn, ``--budget``, ``--max-tokens``): time to first token, total
   latency, throughput; a 429 is retried after its ``Retry-After`` and counted;
3. fires an over-bound burst of ``--burst`` simultaneous requests: how many get 429 (each must carry
   ``Retry-After``), how many succeed, how many 5xx;
4. checks every answer: it ended with ``[DONE]`` and an ``h2mt`` field (else: lost), and its
   sources are exactly the reference kept leaves of its own question (else: mixed up);
5. reads the server's resident memory (``VmRSS`` of the process and its children) after warm-up,
   after the load and after the burst; then stops the server with SIGTERM and records its exit code.

Writes ``--out`` (JSON) and prints a Markdown table. Exits 1 when a 5xx, a lost or a mixed-up answer
was seen. Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

QUESTIONS = [
    "What does PIPESTATUS contain?",
    "How do I redirect both standard output and standard error to a file?",
    "What does the globstar shell option do?",
    "How does the trap builtin work?",
    "What is the difference between $* and $@?",
    "How do I make a variable available to child processes?",
    "What does set -e do?",
    "How are here documents written?",
    "What does the HISTCONTROL variable control?",
    "How does brace expansion work?",
]


@dataclass
class Result:
    question: int
    status: int = 0
    ttft_ms: float | None = None
    total_ms: float | None = None
    retries_429: int = 0
    done: bool = False
    sources: list[int] | None = None
    completion_tokens: int | None = None
    queue_ms: float | None = None  # the server's accounting: wait for the generator
    prefill_ms: float | None = None  # the server's accounting: the prompt's forward pass
    text: str = ""
    error: str = ""


@dataclass
class Report:
    command: str
    url: str
    index: str
    model: str
    clients: int
    requests_per_client: int
    budget: int
    max_tokens: int
    machine: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    burst: dict = field(default_factory=dict)
    rss_mib: dict = field(default_factory=dict)
    server_exit: int | None = None
    ok: bool = False


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def rss_mib(pid: int) -> float | None:
    """VmRSS of ``pid`` and all its descendants, in MiB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            if p == pid:
                return None
        todo.extend(children.get(p, []))
    return round(total / 1024, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "h2mt.cli.main", "serve", str(args.index), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--model", args.model, *args.serve_arg]
    log = open(args.log, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    print("$", " ".join(cmd), file=sys.stderr)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it was ready")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit(f"the server was not ready after {timeout:.0f} s")


def chat_body(args, q: str, stream: bool) -> dict:
    body = {
        "model": args.model_id,
        "messages": [{"role": "user", "content": q}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "stream": stream,
        "budget": args.budget,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def ask_stream(client: httpx.AsyncClient, args, qi: int, max_retries: int = 50) -> Result:
    r = Result(qi)
    for _ in range(max_retries + 1):
        t0 = time.perf_counter()
        try:
            async with client.stream("POST", "/v1/chat/completions", json=chat_body(args, QUESTIONS[qi], True)) as resp:
                r.status = resp.status_code
                if resp.status_code == 429:
                    r.retries_429 += 1
                    await resp.aread()
                    await asyncio.sleep(min(float(resp.headers.get("retry-after", "1") or 1), 5.0))
                    continue
                if resp.status_code != 200:
                    r.error = (await resp.aread()).decode(errors="replace")[:300]
                    return r
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        r.done = True
                        break
                    chunk = json.loads(data)
                    if "error" in chunk:
                        r.error = str(chunk["error"])[:300]
                        continue
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            if r.ttft_ms is None:
                                r.ttft_ms = (time.perf_counter() - t0) * 1000
                            r.text += piece
                    if chunk.get("h2mt"):
                        r.sources = [s["node_id"] for s in chunk["h2mt"].get("sources", [])]
                        acc = chunk["h2mt"].get("accounting") or {}
                        r.queue_ms, r.prefill_ms = acc.get("queue_ms"), acc.get("prefill_ms")
                    if chunk.get("usage"):
                        r.completion_tokens = chunk["usage"].get("completion_tokens")
                r.total_ms = (time.perf_counter() - t0) * 1000
                return r
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            r.error = f"{type(e).__name__}: {e}"[:300]
            return r
    r.error = "still 429 after retries"
    return r


async def burst(client: httpx.AsyncClient, args) -> dict:
    async def one(i: int) -> tuple[int, bool]:
        try:
            resp = await client.post("/v1/chat/completions", json=chat_body(args, QUESTIONS[i % len(QUESTIONS)], False))
            return resp.status_code, "retry-after" in resp.headers
        except httpx.HTTPError:
            return -1, False

    t0 = time.perf_counter()
    got = await asyncio.gather(*(one(i) for i in range(args.burst)))
    codes = [c for c, _ in got]
    return {
        "requests": args.burst,
        "ok_200": codes.count(200),
        "rejected_429": codes.count(429),
        "429_with_retry_after": sum(1 for c, h in got if c == 429 and h),
        "5xx": sum(1 for c in codes if 500 <= c < 600),
        "other": sorted({c for c in codes if c not in (200, 429) and not 500 <= c < 600}),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


async def main_async(args) -> Report:
    proc = None
    pid = args.pid
    if args.url:
        host = urlparse(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"loopback only: {args.url}")
        url = args.url.rstrip("/")
    else:
        port = free_port()
        proc = start_server(args, port)
        pid = proc.pid
        url = f"http://127.0.0.1:{port}"
    rep = Report(
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        url=url,
        index=str(args.index),
        model=args.model,
        clients=args.clients,
        requests_per_client=args.requests,
        budget=args.budget,
        max_tokens=args.max_tokens,
        machine={"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    )
    limits = httpx.Limits(max_connections=args.clients + args.burst + 4)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    timeout = httpx.Timeout(args.timeout, connect=10.0)
    try:
        async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=timeout) as client:
            await wait_ready(client, proc, args.ready_timeout)
            models = (await client.get("/v1/models")).json()["data"]
            args.model_id = args.model_id or models[0]["id"]
            print(f"server ready at {url}; index {args.model_id!r}", file=sys.stderr)
            rep.rss_mib["ready"] = rss_mib(pid) if pid else None

            # Reference routes, then a warm-up answer (the first generation loads the model).
            ref: dict[int, list[int]] = {}
            for qi, q in enumerate(QUESTIONS):
                resp = await client.post(
                    "/v1/route", json={"model": args.model_id, "question": q, "budget": args.budget}
                )
                resp.raise_for_status()
                ref[qi] = [k["node_id"] for k in resp.json()["kept"]]
            warm = await ask_stream(client, args, 0)
            if not warm.done:
                raise SystemExit(f"the warm-up request failed: {warm.status} {warm.error}")
            rep.rss_mib["after_warmup"] = rss_mib(pid) if pid else None

            # One client alone: the latency of a request that does not queue.
            alone = [await ask_stream(client, args, qi % len(QUESTIONS)) for qi in range(args.baseline)]
            alone = [r for r in alone if r.done]
            rep.baseline = {
                "requests": args.baseline,
                "ok": len(alone),
                "ttft_ms_p50": _r(pct([r.ttft_ms for r in alone if r.ttft_ms is not None], 0.5)),
                "total_ms_p50": _r(pct([r.total_ms for r in alone if r.total_ms is not None], 0.5)),
                "prefill_ms_p50": _r(pct([r.prefill_ms for r in alone if r.prefill_ms is not None], 0.5)),
            }

            async def worker(c: int) -> list[Result]:
                out = []
                for j in range(args.requests):
                    out.append(await ask_stream(client, args, (c * args.requests + j) % len(QUESTIONS)))
                return out

            print(f"load: {args.clients} clients x {args.requests} requests", file=sys.stderr)
            t0 = time.perf_counter()
            results = [r for rs in await asyncio.gather(*(worker(c) for c in range(args.clients))) for r in rs]
            wall = time.perf_counter() - t0
            rep.rss_mib["after_load"] = rss_mib(pid) if pid else None

            ok = [r for r in results if r.status == 200 and r.done and not r.error]
            lost = [r for r in results if not (r.status == 200 and r.done and r.sources is not None)]
            lost = [r for r in lost if not 400 <= r.status < 500 or r.status == 429]
            mixed = [r for r in ok if r.sources is not None and sorted(r.sources) != sorted(ref[r.question])]
            ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
            total = [r.total_ms for r in ok if r.total_ms is not None]
            tokens = sum(r.completion_tokens or 0 for r in ok)
            rep.load = {
                "requests": len(results),
                "ok": len(ok),
                "wall_s": round(wall, 1),
                "throughput_req_s": round(len(ok) / wall, 3),
                "throughput_tok_s": round(tokens / wall, 1),
                "ttft_ms_p50": _r(pct(ttft, 0.5)),
                "ttft_ms_p95": _r(pct(ttft, 0.95)),
                "total_ms_p50": _r(pct(total, 0.5)),
                "total_ms_p95": _r(pct(total, 0.95)),
                "total_ms_max": _r(max(total) if total else None),
                "queue_ms_p50": _r(pct([r.queue_ms for r in ok if r.queue_ms is not None], 0.5)),
                "queue_ms_p95": _r(pct([r.queue_ms for r in ok if r.queue_ms is not None], 0.95)),
                "prefill_ms_p50": _r(pct([r.prefill_ms for r in ok if r.prefill_ms is not None], 0.5)),
                "retried_429": sum(r.retries_429 for r in results),
                "5xx": sum(1 for r in results if 500 <= r.status < 600),
                "4xx_other": sum(1 for r in results if 400 <= r.status < 500 and r.status != 429),
                "lost": len(lost),
                "mixed_up": len(mixed),
                "empty_answers": sum(1 for r in ok if not r.text.strip()),
                "errors": sorted({r.error for r in results if r.error})[:5],
            }
            print(f"burst: {args.burst} simultaneous requests", file=sys.stderr)
            rep.burst = await burst(client, args)
            rep.rss_mib["after_burst"] = rss_mib(pid) if pid else None
            healthy = (await client.get("/healthz")).status_code
            rep.burst["healthz_after"] = healthy
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                rep.server_exit = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rep.server_exit = proc.wait(10)
    rep.ok = (
        rep.load.get("5xx") == 0
        and rep.burst.get("5xx") == 0
        and rep.load.get("lost") == 0
        and rep.load.get("mixed_up") == 0
        and rep.load.get("ok") == rep.load.get("requests")
        and rep.burst.get("429_with_retry_after") == rep.burst.get("rejected_429")
        and rep.burst.get("healthz_after") == 200
    )
    return rep


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _n(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def markdown(rep: Report) -> str:
    ld, b, m, one = rep.load, rep.burst, rep.rss_mib, rep.baseline
    rows = [
        (
            f"one client alone ({one['ok']} requests): TTFT / total p50",
            f"{_n(one['ttft_ms_p50'])} / {_n(one['total_ms_p50'])} ms (prefill {_n(one['prefill_ms_p50'])} ms)",
        ),
        ("requests (clients x each)", f"{ld['requests']} ({rep.clients} x {rep.requests_per_client}), {ld['ok']} ok"),
        ("TTFT p50 / p95", f"{_n(ld['ttft_ms_p50'])} / {_n(ld['ttft_ms_p95'])} ms"),
        ("of which queue wait p50 / p95", f"{_n(ld['queue_ms_p50'])} / {_n(ld['queue_ms_p95'])} ms"),
        (
            "total latency p50 / p95 (max)",
            f"{_n(ld['total_ms_p50'])} / {_n(ld['total_ms_p95'])} ms ({_n(ld['total_ms_max'])})",
        ),
        ("throughput", f"{ld['throughput_req_s']} req/s, {ld['throughput_tok_s']} answer tok/s ({ld['wall_s']} s)"),
        ("429 during the load (retried)", str(ld["retried_429"])),
        (
            f"over-bound burst of {b['requests']}",
            f"{b['rejected_429']} × 429 ({b['429_with_retry_after']} with Retry-After), {b['ok_200']} × 200",
        ),
        ("5xx (load + burst)", str(ld["5xx"] + b["5xx"])),
        ("lost / mixed-up answers", f"{ld['lost']} / {ld['mixed_up']}"),
        (
            "server RSS ready / warm / after load / after burst",
            " / ".join(
                "–" if m.get(k) is None else f"{m[k]:,.1f}"
                for k in ("ready", "after_warmup", "after_load", "after_burst")
            )
            + " MiB",
        ),
        ("/healthz after, exit code on SIGTERM", f"{b.get('healthz_after')}, {rep.server_exit}"),
    ]
    out = ["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", default="bash.h2mt", help="Index to serve (default: bash.h2mt).")
    ap.add_argument("--model", default="smollm2-135m", help="Generator preset or path for the started server.")
    ap.add_argument("--url", help="Use a server already running on loopback instead of starting one.")
    ap.add_argument("--pid", type=int, help="With --url: the server's process id, for its memory.")
    ap.add_argument("--model-id", help="The index id to ask (default: the first of /v1/models).")
    ap.add_argument("--api-key", default=os.environ.get("H2MT_API_KEY"), help="Bearer key (default: $H2MT_API_KEY).")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=25, help="Requests per client.")
    ap.add_argument("--budget", type=int, default=256, help="Context token budget per question.")
    ap.add_argument("--max-tokens", type=int, default=8, help="Answer tokens per request.")
    ap.add_argument("--burst", type=int, default=48, help="Simultaneous requests of the over-bound burst.")
    ap.add_argument("--baseline", type=int, default=5, help="Requests of one client alone, before the load.")
    ap.add_argument("--timeout", type=float, default=600, help="Per-request client timeout (s).")
    ap.add_argument("--ready-timeout", type=float, default=300)
    ap.add_argument("--serve-arg", action="append", default=[], help="Extra option for `h2mt serve` (repeatable).")
    ap.add_argument("--log", default="serve_load.log", help="The started server's log.")
    ap.add_argument("--out", default="serve_load.json")
    args = ap.parse_args()
    if not args.url and not Path(args.index).exists():
        ap.error(f"no index {args.index}: h2mt build /usr/share/doc/bash-doc/bashref.html -o {args.index}")
    rep = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(asdict(rep), indent=2) + "\n")
    print(markdown(rep))
    print(f"\n{'OK' if rep.ok else 'FAILED'}; JSON in {args.out}")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
