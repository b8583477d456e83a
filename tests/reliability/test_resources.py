"""Resources: a model that cannot fit is refused up front; memory stays flat over many queries."""

from __future__ import annotations

import gc
import os

import pytest
from h2mt import BackendConfig, ResourceError
from h2mt.backends import fit, load_backend

from tests._tiny import make_tiny_model_dir


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_model_too_big_for_memory_is_a_resource_error(tmp_path, monkeypatch):
    path = make_tiny_model_dir(tmp_path / "tiny")
    need = fit.estimate_load_bytes(path, "float32", "none")
    assert 0 < need < 50 * 2**20
    assert fit.estimate_load_bytes(path, "float32", "nf4") < need
    monkeypatch.setattr(fit, "available_bytes", lambda device: need // 4)
    with pytest.raises(ResourceError, match="GiB"):
        load_backend(BackendConfig(model=str(path), device="cpu"))
    monkeypatch.setenv("H2MT_SKIP_MEMORY_CHECK", "1")
    assert load_backend(BackendConfig(model=str(path), device="cpu")).context_window > 0


def test_available_memory_is_read():
    free = fit.available_bytes("cpu")
    assert free is None or free > 2**20


def test_memory_stays_flat_over_500_queries(manual_engine):
    qs = [
        "trap kill signal", "export environment variable", "history designator", "server memory buffer", "redirect file"
    ]
    for q in qs * 4:  # warm-up: caches, allocator pools
        manual_engine.route(q, budget=200)
    gc.collect()
    before = _rss_bytes()
    for i in range(500):
        manual_engine.route(qs[i % len(qs)] + f" {i}", budget=200)
    gc.collect()
    growth = _rss_bytes() - before
    assert growth < 8 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 500 queries"
