"""Shared fixtures: deterministic encoder and token counter, small indexes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from h2mt import ChunkConfig, H2MTConfig
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder

from tests._docs import manual

# The benchmark data (hotpotqa/, manuals/) lives in ../shared/data beside the checkout (as on CI).
os.environ.setdefault("H2MT_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
# Tests that need a real generator use the small, fast one (the default preset is larger).
os.environ.setdefault("H2MT_MODEL", "smollm2-135m")


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module's tests (tiny models gain nothing from threads)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def encoder() -> HashingEncoder:
    return HashingEncoder(256)


@pytest.fixture(scope="session")
def counter() -> SimpleTokenCounter:
    return SimpleTokenCounter()


@pytest.fixture(scope="session")
def small_cfg() -> H2MTConfig:
    return H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))


@pytest.fixture(scope="session")
def manual_engine(encoder, counter, small_cfg):
    from h2mt import H2MT

    return H2MT.build([manual()], small_cfg, encoder=encoder, token_counter=counter)
