"""Hostile inputs end to end (parse -> build -> route): a correct result or a specific H2MTError."""

from __future__ import annotations

import pytest
from h2mt import H2MT, BudgetError, ChunkConfig, H2MTConfig, InputError, NodeKind, ParseError

from tests.test_parse import make_pdf


@pytest.fixture()
def build(encoder, counter):
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=64, min_tokens=8))
    return lambda paths: H2MT.build([str(p) for p in paths], cfg, encoder=encoder, token_counter=counter)


@pytest.mark.parametrize(
    "name, data, error",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\t\n   ", "empty"),
        ("nul.txt", b"text\x00with\x00nuls" * 50, "binary"),
        ("elf.bin", bytes(range(256)) * 40, "binary"),
        ("undecodable.txt", bytes(range(128, 256)) * 8, "UTF-8"),
    ],
)
def test_unusable_files(build, tmp_path, name, data, error):
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(ParseError, match=error):
        build([f])


def test_non_utf8_text_is_decoded(build, tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("Le paramètre « déjà vu » règle la mémoire du serveur.\n".encode("cp1252") * 30)
    eng = build([f])
    assert "mémoire" in eng.index.leaves()[0].text


def test_broken_html(build, tmp_path):
    f = tmp_path / "broken.html"
    f.write_text("<html><body><h1>Title<h2>Sub</h3><p>unclosed <b>bold <i>text about signals and traps" * 20)
    eng = build([f])
    assert eng.route("signals traps", budget=100).tokens_kept > 0


def test_pdfs_encrypted_image_only_malformed(build, tmp_path):
    with pytest.raises(ParseError, match="password"):
        build([make_pdf(tmp_path / "enc.pdf", [["secret"]], password="pw")])
    with pytest.raises(ParseError, match="no extractable text"):
        build([make_pdf(tmp_path / "img.pdf", [[], []])])
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 100)
    with pytest.raises(ParseError):
        build([tmp_path / "bad.pdf"])


def test_50mb_single_line_without_spaces(build, tmp_path):
    f = tmp_path / "line.txt"
    f.write_bytes(b"abcdefghijklmnopqrstuvwxyz0123456789" * (50 * 2**20 // 36))
    eng = build([f])
    leaves = eng.index.leaves()
    assert all(lf.tokens <= 64 for lf in leaves)
    assert sum(len(lf.text) for lf in leaves) == f.stat().st_size
    assert eng.route("abcdefgh", budget=64).tokens_kept > 0


def test_extremely_deep_heading_nesting(build, tmp_path):
    f = tmp_path / "deep.md"
    f.write_text(
        "".join(f"{'#' * (1 + i % 6)} Level {i}\n\nText of level {i} about topic {i}.\n\n" for i in range(3000))
    )
    eng = build([f])
    assert len([n for n in eng.index.nodes if n.kind == NodeKind.SECTION]) >= 2999
    r = eng.route("topic 2999", budget=64)
    assert r.tokens_kept > 0


def test_thousands_of_tiny_files_and_duplicates(build, tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(2000):
        (d / f"f{i:04d}.txt").write_text(f"Note {i}: the value of setting{i} is {i * 7}.")
    (d / "dup_a.md").write_text("# Same\n\nIdentical body about checkpoint_timeout.")
    (d / "dup_b.md").write_text("# Same\n\nIdentical body about checkpoint_timeout.")
    eng = build([d])
    assert len(eng.index.documents) == 2002
    r = eng.route("value of setting1234", budget=40)
    assert any("setting1234" in k.node.text for k in r.kept)
    r = eng.route("checkpoint_timeout", budget=100)
    assert sum("checkpoint_timeout" in k.node.text for k in r.kept) == 2  # both duplicates, kept apart


def test_questions_and_budgets(build, tmp_path):
    f = tmp_path / "doc.md"
    f.write_text(
        "# Guide\n\n## Signals\n\nThe trap builtin handles signals.\n\n## Files\n\nRedirection writes files.\n"
    )
    eng = build([f])
    with pytest.raises(InputError):
        eng.route("")
    with pytest.raises(BudgetError):
        eng.route("trap", budget=0)
    with pytest.raises(BudgetError):
        eng.route("trap", budget=1)
    assert eng.route("trap " * 20000, budget=64).tokens_kept > 0  # huge question
    assert eng.route("シグナルを捕まえる", budget=64).tokens_kept > 0  # another script
    everything = eng.route("trap", budget=10**9)
    assert everything.tokens_kept == everything.tokens_total


def test_missing_paths_and_empty_folders(build, tmp_path):
    with pytest.raises(InputError, match="does not exist|not"):
        build([tmp_path / "nope.md"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        build([tmp_path / "empty"])
