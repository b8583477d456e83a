"""Build each document group's hierarchy once and cache it on disk, keyed by source and config.

Every method of the benchmark uses the leaves of this one index as its chunks, so the
comparison is fair (same chunking, same token counts, same encoder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import EncoderConfig, H2MTConfig
from ..counting import TokenCounter
from ..index.index import FORMAT_VERSION

if TYPE_CHECKING:
    from ..engine import H2MT
    from ..index.encoders.base import Encoder
    from .datasets.types import DocGroup

__all__ = ["encoder_config", "make_encoder", "encoder_name", "index_key", "engine_for"]

log = logging.getLogger(__name__)


def encoder_config(kind: str) -> EncoderConfig:
    """``sentence-transformers`` (the embedded MiniLM) or ``hashing`` (fast, for smoke runs)."""
    return EncoderConfig(kind="hashing") if kind == "hashing" else EncoderConfig()


def make_encoder(kind: str) -> Encoder:
    """The encoder :func:`encoder_config` names, loaded."""
    from ..index.encoders.base import load_encoder

    return load_encoder(encoder_config(kind))


def encoder_name(kind: str) -> str:
    """The name :func:`make_encoder` gives its encoder (part of the index cache key), without loading it."""
    from ..index.encoders.base import encoder_name as name_of

    return name_of(encoder_config(kind))


def index_key(group: DocGroup, cfg: H2MTConfig, encoder_name: str, tokenizer_name: str) -> str:
    """Cache key: group identity + chunk/hierarchy config + encoder + tokenizer + format."""
    ident = {
        "group": group.key, "fingerprint": group.fingerprint, "format": FORMAT_VERSION,
        "chunk": asdict(cfg.chunk), "hierarchy": {**asdict(cfg.hierarchy), "aggregate": cfg.hierarchy.aggregate.value},
        "encoder": encoder_name, "tokenizer": tokenizer_name,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in group.key)[:60]
    return f"{safe}-{digest}"


def engine_for(
    group: DocGroup,
    cfg: H2MTConfig,
    encoder: Callable[[], Encoder],
    encoder_name: str,
    counter: TokenCounter,
    cache: Path,
    *,
    attach_encoder: bool = True,
    progress: bool = False,
) -> tuple[H2MT, float | None]:
    """Load the group's cached index or build and save it; returns (engine, build seconds or None).

    ``encoder`` is called only when needed: to build, or to attach one shared encoder to a
    loaded index (``attach_encoder``); otherwise a loaded engine loads its encoder lazily.
    """
    from ..engine import H2MT

    enc = encoder() if attach_encoder else None
    path = cache / f"{index_key(group, cfg, encoder_name, counter.name)}.h2mt"
    if path.exists():
        return H2MT.load(path, cfg, encoder=enc), None
    enc = enc or encoder()
    t0 = time.perf_counter()
    eng = H2MT.build(group.sources, cfg, encoder=enc, token_counter=counter, progress=progress)
    took = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    eng.save(path)
    log.info("built %s in %.1fs -> %s", group.key, took, path)
    return eng, took
