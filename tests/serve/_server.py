"""A real ``h2mt serve`` process on 127.0.0.1 over a tiny model and a hashing-encoder index."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from h2mt import H2MT, ChunkConfig, H2MTConfig
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder

from tests._docs import manual
from tests._tiny import make_tiny_model_dir

LONG_CONTEXT = 4096  # the tiny model's window in these tests
BUDGET = "40"  # SimpleTokenCounter words: the routed prompt fits the tiny model's 512 positions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def never_ending(model: Path) -> None:
    """Zero the output rows of the tiny model's end tokens: their logit is always 0 while the largest
    of the other logits is positive, so greedy decoding runs to ``max_tokens`` and a test can keep the
    generator busy for as long as it needs (the random weights otherwise end the answer after ~90 tokens)."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    path = model / "model.safetensors"
    weights = load_file(path)
    for name in ("<|im_end|>", "<|endoftext|>"):
        weights["lm_head.weight"][tok.convert_tokens_to_ids(name)] = 0.0
    save_file(weights, path, metadata={"format": "pt"})


def build_assets(root: Path, endless: bool = False) -> tuple[Path, Path]:
    """(tiny model folder, index file) under ``root``; ``endless``: a model that never ends its answer."""
    model = make_tiny_model_dir(root / "tiny")
    if endless:
        never_ending(model)
    for name, key in (("config.json", "max_position_embeddings"), ("tokenizer_config.json", "model_max_length")):
        conf = json.loads((model / name).read_text())  # rotary positions: a longer window needs no new weights,
        conf[key] = LONG_CONTEXT  # and lets a test keep the generator busy for seconds
        (model / name).write_text(json.dumps(conf))
    index = root / "manual.h2mt"
    if not index.exists():
        cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))
        H2MT.build([manual()], cfg, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter()).save(index)
    return model, index


class Server:
    """``h2mt serve`` in a subprocess; its stderr (uvicorn and the access log) goes to ``log``."""

    def __init__(self, root: Path, *args: str, tiny_model: bool = True, env: dict[str, str] | None = None,
                 name: str = "server", endless: bool = False) -> None:
        tiny, index = build_assets(root, endless)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"{name}-{self.port}.log"
        cmd = [sys.executable, "-m", "h2mt.cli.main", "serve", f"manual={index}", "--port", str(self.port),
               "--device", "cpu", "--budget", BUDGET, *args]
        if tiny_model:
            cmd += ["--model", str(tiny)]
        self.cmd = cmd
        self._err = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._err, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        self._err.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        return int(self.proc.returncode)
