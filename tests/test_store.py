"""Saved index: round trip, no re-encoding, refusal of damaged or foreign files, atomic writes."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from h2mt import H2MT, IndexCorruptError, IndexFileError, IndexVersionError
from h2mt.index.store import load_index, save_index


class CountingEncoder:
    def __init__(self, inner):
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0

    def encode(self, texts, *, progress=False):
        self.calls += len(texts)
        return self.inner.encode(texts)


def test_round_trip_is_exact_and_does_not_reencode(manual_engine, encoder, tmp_path):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    enc = CountingEncoder(encoder)
    eng = H2MT.load(p, encoder=enc)
    assert enc.calls == 0
    a, b = manual_engine.index, eng.index
    assert [
        (n.kind, n.title, n.parent, n.children, n.path, n.text, n.tokens, n.start, n.end, n.depth) for n in a.nodes
    ] == [
        (n.kind, n.title, n.parent, n.children, n.path, n.text, n.tokens, n.start, n.end, n.depth) for n in b.nodes
    ]
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert (a.lexical.matrix != b.lexical.matrix).nnz == 0
    assert a.lexical.vocab == b.lexical.vocab
    q = "trap signal exit status"
    ra, rb = manual_engine.route(q, budget=150), eng.route(q, budget=150)
    assert [(k.node.id, k.score) for k in ra.kept] == [(k.node.id, k.score) for k in rb.kept]
    assert enc.calls == 1  # only the question
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_loaded_index_uses_its_own_encoder(manual_engine, tmp_path):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    eng = H2MT.load(p)  # no encoder given: rebuilt from the index metadata (hashing)
    assert eng.encoder.name == manual_engine.encoder.name


def test_wrong_encoder_is_refused(manual_engine, tmp_path):
    from h2mt import ConfigError
    from h2mt.index.encoders.base import HashingEncoder

    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    with pytest.raises(ConfigError, match="built with encoder"):
        H2MT.load(p, encoder=HashingEncoder(32))


def test_truncated_file_is_refused(manual_engine, tmp_path):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="rebuild"):
        load_index(p)


def test_flipped_byte_fails_the_checksum(manual_engine, tmp_path):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF  # inside the tensor payload
    p.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        load_index(p)


def _rewrite_header(p, fn):
    data = p.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    fn(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_version_mismatch_is_refused(manual_engine, tmp_path):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    _rewrite_header(p, lambda h: h["__metadata__"].update(format_version="999"))
    with pytest.raises(IndexVersionError, match="999"):
        load_index(p)


def test_foreign_and_missing_files(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "other.safetensors"
    save_file({"x": np.zeros(3, dtype=np.float32)}, str(p))
    with pytest.raises(IndexCorruptError, match="not an h2mt index"):
        load_index(p)
    (tmp_path / "junk.h2mt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(IndexCorruptError):
        load_index(tmp_path / "junk.h2mt")
    with pytest.raises(IndexFileError, match="h2mt build"):
        load_index(tmp_path / "missing.h2mt")


def test_failed_write_keeps_the_old_index(manual_engine, tmp_path, monkeypatch):
    p = tmp_path / "m.h2mt"
    manual_engine.save(p)
    before = p.read_bytes()
    import safetensors.numpy

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", boom)
    with pytest.raises(IndexFileError, match="disk full"):
        save_index(manual_engine.index, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.h2mt"]
