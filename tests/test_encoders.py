"""h2mt.index.encoders.base: the hashing encoder, and rebuilding an encoder from the meta an index records."""

from __future__ import annotations

import numpy as np
import pytest
from h2mt import ConfigError, EncoderConfig
from h2mt.errors import ModelError
from h2mt.index.encoders.base import (
    DEFAULT_ENCODER_NAME,
    Encoder,
    HashingEncoder,
    encoder_meta,
    encoder_name,
    load_encoder,
)

TEXTS = ["trap kill signal", "export environment variable", "", "Signal KILL trap", "trap kill signal"]


def test_hashing_encoder_is_deterministic_unit_norm_float32():
    enc = HashingEncoder(64)
    x = enc.encode(TEXTS)
    assert x.shape == (len(TEXTS), 64) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)  # the empty text too
    np.testing.assert_array_equal(x, HashingEncoder(64).encode(TEXTS))  # another instance, same vectors
    np.testing.assert_array_equal(x[0], x[4])
    np.testing.assert_allclose(x[0], x[3], atol=1e-6)  # a bag of words: case and order do not matter
    assert not np.allclose(x[0], x[1])
    assert HashingEncoder(64).encode([]).shape == (0, 64)


def test_hashing_encoder_similarity_follows_shared_words():
    enc = HashingEncoder(256)
    q, near, far = enc.encode(["trap kill signal", "the trap and kill signal handler", "history list recall"])
    assert q @ near > 0.5 > abs(q @ far)


def test_encoder_meta_round_trip_rebuilds_the_same_encoder():
    enc = HashingEncoder(32)
    meta = encoder_meta(enc)
    assert meta == {"name": "hashing-32", "dim": 32, "kind": "hashing", "model": None}
    again = load_encoder(meta)
    assert isinstance(again, HashingEncoder) and isinstance(again, Encoder)
    assert (again.name, again.dim, again.kind) == (enc.name, enc.dim, enc.kind)
    np.testing.assert_array_equal(again.encode(TEXTS), enc.encode(TEXTS))
    assert encoder_meta(again) == meta
    assert load_encoder(EncoderConfig(kind="hashing", hashing_dim=32)).name == "hashing-32"


class Custom:
    """An encoder of the caller's own, without ``meta()``."""

    name = "my-encoder"
    dim = 8
    kind = "custom"

    def encode(self, texts, *, progress=False):
        return np.eye(8, dtype=np.float32)[[len(t) % 8 for t in texts]]


def test_a_custom_encoder_must_be_passed_in_again():
    meta = encoder_meta(Custom())
    assert meta == {"name": "my-encoder", "dim": 8, "kind": "custom", "model": None}
    with pytest.raises(ConfigError, match=r"custom encoder \('my-encoder'\); pass it as encoder="):
        load_encoder(meta)
    with pytest.raises(ConfigError, match="custom encoder"):
        load_encoder({"name": "x", "dim": 4})  # no kind recorded at all


def test_lm_hidden_needs_a_backend():
    with pytest.raises(ModelError, match="backend"):
        load_encoder({"name": "lm-hidden:tiny", "dim": 64, "kind": "lm-hidden", "model": None})


@pytest.mark.parametrize(
    ("cfg", "backend", "name"),
    [
        (EncoderConfig(kind="hashing", hashing_dim=128), "", "hashing-128"),
        (EncoderConfig(kind="lm-hidden"), "SmolLM2", "lm-hidden:SmolLM2"),
        (EncoderConfig(backend="torch"), "", DEFAULT_ENCODER_NAME),
        (EncoderConfig(), "", f"{DEFAULT_ENCODER_NAME}:onnx-int8"),
        (EncoderConfig(model="/models/bge-small/"), "", "st:bge-small"),
    ],
)
def test_encoder_name_is_known_without_loading(cfg, backend, name):
    assert encoder_name(cfg, backend) == name
