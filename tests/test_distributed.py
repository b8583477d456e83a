"""h2mt.index.distributed: a build on a local Ray equals the local build; failures are clear and leave no file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from h2mt import ChunkConfig, H2MTConfig, InputError, ParseError
from h2mt.engine import H2MT
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.distributed import RayExecutor, build_on_ray
from h2mt.index.encoders.base import HashingEncoder

from tests._docs import make_doc, manual

ray = pytest.importorskip("ray", reason="pip install 'h2mt[ray]'")

CFG = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))
QUESTIONS = ["trap kill signal exit status", "export environment variable", "history recall event"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _markdown(doc) -> str:
    """The synthetic document as Markdown (ATX headings), so the workers parse real files."""
    out = [f"# {doc.title}", ""]
    for s in doc.sections:
        out += ["#" * (s.level + 1) + " " + s.title, "", doc.text[s.start : s.end].strip(), ""]
    return "\n".join(out)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("docs")
    docs = [manual(0), manual(1), make_doc([(1, "1 signals", 12), (1, "2 history", 12)], seed=3, title="Notes")]
    paths = []
    for i, d in enumerate(docs):
        p = root / f"doc{i}.md"
        p.write_text(_markdown(d), encoding="utf-8")
        paths.append(str(p))
    return paths


def _same_index(a, b) -> None:
    assert [(n.id, n.kind, n.title, n.parent, n.children, n.doc, n.start, n.end, n.tokens, n.path, n.text)
            for n in a.nodes] == [(n.id, n.kind, n.title, n.parent, n.children, n.doc, n.start, n.end, n.tokens,
                                   n.path, n.text) for n in b.nodes]
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-5)
    assert a.documents == b.documents
    assert a.meta["encoder"] == b.meta["encoder"] and a.meta["tokenizer"] == b.meta["tokenizer"]


def test_ray_build_equals_local_build(local_ray, sources: list[str]) -> None:
    enc, count = HashingEncoder(256), SimpleTokenCounter()
    local = H2MT.build([*sources, sources[0]], CFG, encoder=enc, token_counter=count)  # a repeat is indexed once
    ex = RayExecutor(num_workers=2, batch_size=7)  # small batches: many calls spread over both actors
    dist = H2MT.build([*sources, sources[0]], CFG, encoder=enc, token_counter=count, executor=ex, progress=True)
    _same_index(local.index, dist.index)
    assert dist.index.meta["build_executor"]["kind"] == "ray"
    for q in QUESTIONS:
        r1, r2 = local.route(q, budget=96), dist.route(q, budget=96)
        assert [k.node.id for k in r1.kept] == [k.node.id for k in r2.kept]
        assert [round(k.score, 5) for k in r1.kept] == [round(k.score, 5) for k in r2.kept]


@pytest.mark.integration
def test_ray_build_with_int8_onnx_equals_local_build(local_ray, sources: list[str]) -> None:
    """Actors encode the local build's exact batches, so int8's per-batch activation scales
    give the same embeddings (not merely close ones)."""
    pytest.importorskip("onnxruntime", reason="pip install 'h2mt[hf]'")
    from h2mt import EncoderConfig

    cfg = H2MTConfig(chunk=CFG.chunk, encoder=EncoderConfig(backend="onnx-int8", batch_size=4, batch_tokens=64))
    local = H2MT.build(sources, cfg, token_counter=SimpleTokenCounter())  # exports once, before the actors load it
    dist = H2MT.build(sources, cfg, token_counter=SimpleTokenCounter(),
                      executor=RayExecutor(num_workers=2, batch_size=9))  # calls of ~9 texts: many per actor
    _same_index(local.index, dist.index)
    assert local.index.meta["encoder"]["name"] == "all-MiniLM-L6-v2:onnx-int8"


def test_batches_are_grouped_into_calls_in_order() -> None:
    from h2mt.index.distributed import _group_batches

    batches = [[5, 2], [7], [0, 1, 3], [4], [6, 8, 9, 10]]
    groups = _group_batches(batches, 3)
    assert [b for g in groups for b in g] == batches  # every batch once, in order, never split
    assert all(sum(map(len, g)) <= 3 or len(g) == 1 for g in groups)
    assert _group_batches([], 3) == []


def test_ray_build_of_an_encoder_config_and_parsed_documents(local_ray) -> None:
    """Workers load the encoder named by the config (not shipped) and pass parsed documents through."""
    cfg = H2MTConfig(chunk=CFG.chunk, encoder=__import__("h2mt").EncoderConfig(kind="hashing", hashing_dim=64))
    docs = [manual(2), make_doc([(1, "1 config", 20)], seed=4, title="Config")]
    local = H2MT.build(docs, cfg, token_counter=SimpleTokenCounter())
    dist = build_on_ray(docs, cfg, executor=RayExecutor(num_workers=1), token_counter=SimpleTokenCounter())
    _same_index(local.index, dist)
    assert dist.meta["encoder"]["name"] == "hashing-64"


def test_ray_build_counts_with_the_tiny_model_tokenizer(local_ray, sources: list[str], tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from h2mt import BackendConfig

    from tests._tiny import make_tiny_model_dir

    folder = make_tiny_model_dir(tmp_path / "tiny")
    cfg = H2MTConfig(chunk=CFG.chunk, backend=BackendConfig(model=str(folder), device="cpu"))
    enc = HashingEncoder(128)
    local = H2MT.build(sources[:2], cfg, encoder=enc)  # counter: the tiny tokenizer, loaded from cfg.backend
    dist = H2MT.build(sources[:2], cfg, encoder=enc, executor=RayExecutor(num_workers=2))  # loaded per worker
    _same_index(local.index, dist.index)  # the same leaves: the same token counts


class _DiesOnce:
    """An encoder whose first call kills its worker process (a crashed node), then works."""

    def __init__(self, marker: str) -> None:
        self.inner, self.marker = HashingEncoder(32), marker
        self.name, self.dim, self.kind = self.inner.name, self.inner.dim, "hashing"

    def meta(self) -> dict:
        return self.inner.meta()

    def encode(self, texts, *, progress=False):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text("died")
            os._exit(1)
        return self.inner.encode(texts)


class _CountDiesOnce(SimpleTokenCounter):
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, texts):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text("died")
            os._exit(1)
        return super().__call__(texts)


def test_a_dead_worker_is_retried(local_ray, sources: list[str], tmp_path: Path) -> None:
    enc_marker, count_marker = str(tmp_path / "enc"), str(tmp_path / "count")
    index = build_on_ray(sources[:1], CFG, executor=RayExecutor(num_workers=1, max_retries=2),
                         encoder=_DiesOnce(enc_marker), token_counter=_CountDiesOnce(count_marker))
    assert os.path.exists(enc_marker) and os.path.exists(count_marker)  # both died once and were retried
    local = H2MT.build(sources[:1], CFG, encoder=HashingEncoder(32), token_counter=SimpleTokenCounter())
    assert index.meta["tokenizer"] == "_CountDiesOnce"  # the counter's own name, as a local build records it
    index.meta["tokenizer"] = local.index.meta["tokenizer"]
    _same_index(local.index, index)


def test_a_source_that_fails_to_parse_fails_the_build_and_writes_nothing(local_ray, sources: list[str],
                                                                         tmp_path: Path) -> None:
    from h2mt.cli.main import app
    from typer.testing import CliRunner

    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>var x = 1;</script></body></html>", encoding="utf-8")
    with pytest.raises(ParseError, match="no readable text"):
        build_on_ray([sources[0], str(bad)], CFG, encoder=HashingEncoder(32), token_counter=SimpleTokenCounter())
    with pytest.raises(InputError, match="does not exist"):
        build_on_ray([str(tmp_path / "missing.md")], CFG, encoder=HashingEncoder(32),
                     token_counter=SimpleTokenCounter())
    out = tmp_path / "out.h2mt"
    res = CliRunner().invoke(app, ["build", sources[0], str(bad), "-o", str(out), "--ray", "--encoder", "hashing"])
    assert res.exit_code == ParseError.exit_code and "no readable text" in res.output  # one line, its own code
    assert not out.exists() and not list(tmp_path.glob("out.h2mt*"))


def test_executor_settings_are_validated() -> None:
    from h2mt import ConfigError

    with pytest.raises(ConfigError, match="num_workers"):
        RayExecutor(num_workers=0)
