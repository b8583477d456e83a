"""Tests of h2mt.index.parse: every parser keeps the section invariants, on small and real inputs."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from h2mt.errors import InputError, ParseError
from h2mt.index.parse import parse_path, parse_text
from h2mt.index.parse._structure import numbered_level
from h2mt.types import ParsedDocument, Section
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASH_HTML = Path("/usr/share/doc/bash-doc/bashref.html")
BASH_PDF = Path("/usr/share/doc/bash-doc/bashref.pdf")
PG_BOOK = Path("/usr/share/doc/postgresql-doc-15/html")
HEADED = {"heading", "entry", "page", "table"}  # a table section's heading is its header row
FIXTURES = Path(__file__).parent / "fixtures" / "parse"


def _words(s: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", s).casefold())


def assert_section_invariants(doc: ParsedDocument) -> None:
    """Bodies in range, ordered, non-overlapping; paths consistent; only headings between bodies."""
    text = doc.text
    assert doc.sections, "a document always has at least one section"
    levels: dict[tuple[str, ...], int] = {}
    prev_end = 0
    for i, s in enumerate(doc.sections):
        assert isinstance(s, Section)
        assert 0 <= s.start <= s.end <= len(text), (i, s)
        assert s.start >= prev_end, f"section {i} {s.title!r} overlaps the previous body"
        assert s.path and s.path[-1] == s.title, s
        assert s.level >= 1
        if len(s.path) > 1:
            parent = s.path[:-1]
            assert parent in levels, f"parent of {s.path} not seen before it"
            assert levels[parent] < s.level, f"{s.path} not deeper than its parent"
        gap = text[prev_end:s.start]
        if gap.strip():
            assert s.meta.get("kind") in HEADED, f"non-heading text before {s.path}: {gap[:80]!r}"
            it = iter("".join(_words(gap)))  # the title's letters appear, in order, in the heading text
            shown = s.title.split(": ", 1)[-1] if s.meta.get("kind") == "table" else s.title  # caption stays above
            assert all(c in it for c in "".join(_words(shown))), f"{s.title!r} is not in {gap[:120]!r}"
        levels[s.path] = s.level
        prev_end = s.end
    assert doc.sections[-1].end == len(text)


def _find(doc: ParsedDocument, title: str) -> Section:
    matches = [s for s in doc.sections if s.title == title and s.meta.get("kind") != "continuation"]
    assert matches, f"no section titled {title!r}"
    return matches[0]


def _body(doc: ParsedDocument, s: Section) -> str:
    return doc.text[s.start:s.end]


FRENCH = "Le café était très agréable. Où est la bibliothèque ? Ça dépend, répondit-il.\n" * 3


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"line one\r\n\nline two\n", "line one\r\n\nline two\n"), ("\ufeffbom text".encode(), "bom text"),
     ("utf16 text é".encode("utf-16"), "utf16 text é"), (FRENCH.encode("latin-1"), FRENCH)],
)
def test_plain_text_decoding(tmp_path: Path, data: bytes, expected: str) -> None:
    (tmp_path / "notes").write_bytes(data)
    (doc,) = parse_path(tmp_path / "notes")
    assert doc.text == expected and doc.title == "notes" and doc.meta["format"] == "text"
    assert [(s.title, s.level, s.start, s.end) for s in doc.sections] == [("notes", 1, 0, len(expected))]
    assert_section_invariants(doc)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("empty.txt", b"", "is empty"), ("blank.md", b"  \n\t\n", "is empty"), ("nul.txt", b"abc\x00def" * 10, "binary"),
     ("ctrl.txt", bytes([1, 2, 3, 4, 5, 6, 7]) * 50, "binary"), ("garbage.txt", bytes(range(128, 256)) * 8, "UTF-8"),
     ("empty.html", b"", "is empty"), ("script.html", b"<head><script>x = 1;</script></head><p> </p>", "no readable"),
     ("empty.pdf", b"", "empty"), ("bad.pdf", b"%PDF-1.4\nthis is not really a pdf\n", "PDF"),
     ("png.pdf", b"\x89PNG\r\n\x1a\n" + bytes(200), "PDF")],
)
def test_hostile_files_raise_parse_error(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ParseError, match=message):
        parse_path(tmp_path / name)


def test_missing_path_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        parse_path(tmp_path / "nope.md")
    with pytest.raises(InputError, match="unknown format"):
        parse_text("x", format="rtf")  # type: ignore[arg-type]
    with pytest.raises(ParseError, match="empty"):
        parse_text("   ", format="markdown")


MARKDOWN = (FIXTURES / "guide.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_markdown_structure(tmp_path: Path, newline: str) -> None:
    f = tmp_path / "guide.md"
    f.write_bytes(MARKDOWN.replace("\n", newline).encode())
    (doc,) = parse_path(f)
    assert_section_invariants(doc)
    assert doc.text == MARKDOWN.replace("\n", newline) and doc.title == "Guide"
    got = [(s.title, s.level, s.path) for s in doc.sections]
    assert got == [("Guide", 1, ("Guide",)), ("Guide", 1, ("Guide",)), ("Setext Two", 2, ("Guide", "Setext Two")),
                   ("Deep code", 4, ("Guide", "Setext Two", "Deep code")), ("Next", 2, ("Guide", "Next"))]
    assert doc.sections[0].meta["kind"] == "preamble"
    assert "Intro paragraph" in _body(doc, doc.sections[0])
    assert "# not a heading" in _body(doc, doc.sections[2])
    assert _body(doc, doc.sections[3]).strip() == "Deep body."


def test_markdown_title_falls_back_to_stem() -> None:
    doc = parse_text("# A\n\ntext\n\n# B\n\nmore\n", source="dir/two-roots.md", format="markdown")
    assert doc.title == "two-roots" and [s.title for s in doc.sections] == ["A", "B"]
    assert_section_invariants(doc)


_TITLE = st.text(alphabet="abcXYZ éß漢字 ", min_size=1, max_size=20).map(str.strip).filter(bool)
_PARA = st.text(alphabet="abc XYZ*_-=#.!?éß漢字😀\t", min_size=1, max_size=60)
_BLOCK = st.one_of(
    st.tuples(st.just("atx"), st.integers(1, 6), _TITLE),
    st.tuples(st.just("setext"), st.integers(1, 2), _TITLE),
    st.tuples(st.just("para"), st.just(0), _PARA),
    st.tuples(st.just("fence"), st.just(0), _TITLE),
)
_RENDER = {"atx": lambda lv, c: "#" * lv + " " + c, "setext": lambda lv, c: c + "\n" + "=-"[lv - 1] * 3,
           "para": lambda lv, c: c, "fence": lambda lv, c: "```\n# FENCED " + c + "\n```"}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_BLOCK, min_size=1, max_size=12), st.sampled_from(["\n", "\r\n"]))
def test_markdown_property(blocks: list[tuple[str, int, str]], newline: str) -> None:
    src = (newline * 2).join(_RENDER[k](lv, c).replace("\n", newline) for k, lv, c in blocks) + newline
    if not src.strip():
        return
    doc = parse_text(src, source="prop.md", format="markdown")
    assert doc.text == src
    assert_section_invariants(doc)
    wanted = [(" ".join(c.split()), lv) for k, lv, c in blocks if k in ("atx", "setext")]
    got = iter((" ".join(s.title.split()), s.level) for s in doc.sections if s.meta["kind"] == "heading")
    assert all(w in got for w in wanted), "every generated heading is found, in order"
    assert not any("FENCED" in s.title for s in doc.sections), "headings in code fences do not count"


HTML = (FIXTURES / "tiny.html").read_text(encoding="utf-8")


def test_html_structure_and_text() -> None:
    (doc,) = parse_path(FIXTURES / "tiny.html")
    assert_section_invariants(doc)
    assert doc.title == "Tiny Manual" and doc.meta["format"] == "html"
    for chrome in ("Site nav", "hidden", "Next:", "¶", "color", "dropped definition"):
        assert chrome not in doc.text
    assert doc.text.count("1 Intro") == 1 and "Welcome to the manual." in doc.text
    assert "  keep\n    this   spacing" in doc.text and "cell one cell two" in doc.text
    got = [(s.title, s.level, s.meta["kind"]) for s in doc.sections]
    assert got == [
        ("Tiny Manual", 1, "heading"), ("1 Intro", 1, "heading"), ("1.1 Setup", 2, "heading"),
        ("1.1.1 Details", 3, "heading"), ("2 Variables", 1, "heading"), ("FOO", 2, "entry"),
        ("BAR, BAZ", 2, "entry"), ("2 Variables", 1, "continuation"), ("LOST", 2, "entry"),
        ("2 Variables", 1, "continuation"), ("Appendix A Extra", 1, "heading"),
    ]
    assert _find(doc, "1.1.1 Details").path == ("1 Intro", "1.1 Setup", "1.1.1 Details")
    foo, bar = _find(doc, "FOO"), _find(doc, "BAR, BAZ")
    assert foo.path == ("2 Variables", "FOO") and foo.meta["anchor"] == "index-FOO"
    assert "inner definition" in _body(doc, bar) and "FOO controls" in _body(doc, foo)
    assert "Note\n\nA note box stays body text." in _body(doc, _find(doc, "2 Variables"))
    assert "After the list." in _body(doc, doc.sections[7]) and "cell one" in _body(doc, doc.sections[9])
    assert _find(doc, "1 Intro").meta["anchor"] == "intro"
    for s in doc.sections:
        if s.meta["kind"] != "continuation":
            tag = "<dt" if s.meta["kind"] == "entry" else "<h"
            assert HTML[s.meta["source_offset"]:].startswith(tag), s


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><h2>Title<p>unclosed <b>bold <div>text</span></table><h3>Sub</h3>more",
        "<h1>a</h1><h1></h1><h2><h3>nested</h3></h2>tail <dl><dt>x<dd>" + "long " * 20,
        "<div>" * 3000 + "deep text" + "</div>" * 10,
        "<?xml version='1.0' encoding='UTF-8'?><html><body><p>x &amp; y &#xZZ; &bogus;</p></body></html>",
        "plain words, no tags at all",
    ],
)
def test_broken_html_does_not_crash(html: str) -> None:
    doc = parse_text(html, source="broken.html", format="html")
    assert_section_invariants(doc)


def test_numbered_level_rule() -> None:
    cases = {"3.6.7 Here Strings": 3, "20.3.1. Connection Settings": 3, "Chapter 20. Server": 1,
             "Appendix A Reporting Bugs": 1, "B.1 Implementation": 2, "A Note on Style": None,
             "Introduction": None, "1 Introduction": 1, "Part II. Tutorial": 1, "Chapter 20": 1,
             "F.3. auto_explain": 2, "Section 3.2 Scope": 2, "20.3.": None, "2to3": None, "3D graphics": None,
             "Part of speech": None, "A. Smith": None}
    assert {k: numbered_level(k) for k in cases} == cases


def _page(title: str, body: str, nxt: str = "", up: str = "") -> str:
    links = f'<link rel="next" href="{nxt}" />' if nxt else ""
    nav = f'<div class="navheader"><a accesskey="u" href="{up}">Up</a> Prev Next</div>' if up else ""
    return f"<html><head><title>{title}</title>{links}</head><body>{nav}<h2>{title}</h2>{body}</body></html>"


def _make_book(folder: Path) -> None:
    entries = "".join(
        f'<dt id="GUC-{n.upper()}"><code>{n}</code> (<code>integer</code>)</dt>'
        f"<dd><p>Sets the {n} parameter of the server; the default is sensible.</p></dd>"
        for n in ("opt_a", "opt_b")
    )
    pages = {
        "index.html": _page("Tiny Book", "<p>Legal notice.</p>", nxt="ch1.html"),
        "ch1.html": _page("Chapter 1. Start", "<p>Chapter intro.</p>", nxt="s11.html", up="index.html"),
        "s11.html": _page("1.1. Sub", '<p>Sub intro.</p><h3>1.1.1. Deep</h3><dl class="variablelist">'
                          + entries + "</dl><p>Trailing.</p>", up="ch1.html"),
        "orphan.html": _page("Orphan", "<p>Never linked.</p>"),
    }
    _write(folder, {**pages, "style.css": "body {}"})


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content, encoding="utf-8")


def test_html_book(tmp_path: Path) -> None:
    _make_book(tmp_path / "book")
    (doc,) = parse_path(tmp_path / "book")
    assert_section_invariants(doc)
    assert doc.title == "Tiny Book" and doc.meta["pages"] == ["index.html", "ch1.html", "s11.html", "orphan.html"]
    got = [(s.path, s.level, s.meta["kind"], s.meta["page"]) for s in doc.sections]
    assert got == [
        (("Tiny Book",), 1, "page", "index.html"),
        (("Chapter 1. Start",), 1, "page", "ch1.html"),
        (("Chapter 1. Start", "1.1. Sub"), 2, "page", "s11.html"),
        (("Chapter 1. Start", "1.1. Sub", "1.1.1. Deep"), 3, "heading", "s11.html"),
        (("Chapter 1. Start", "1.1. Sub", "1.1.1. Deep", "opt_a (integer)"), 4, "entry", "s11.html"),
        (("Chapter 1. Start", "1.1. Sub", "1.1.1. Deep", "opt_b (integer)"), 4, "entry", "s11.html"),
        (("Chapter 1. Start", "1.1. Sub", "1.1.1. Deep"), 3, "continuation", "s11.html"),
        (("Orphan",), 1, "page", "orphan.html"),
    ]
    assert _body(doc, doc.sections[0]).strip() == "Legal notice."
    assert doc.text.count("1.1. Sub") == 1, "a page's own heading is not duplicated"
    assert doc.sections[4].meta["anchor"] == "GUC-OPT_A"
    offsets = doc.meta["page_offsets"]
    assert doc.text[offsets[2]:].startswith("1.1. Sub")


def test_html_book_with_cyclic_up_links(tmp_path: Path) -> None:
    _write(tmp_path, {"index.html": _page("Root", "<p>r</p>", nxt="a.html"),
                      "a.html": _page("A", "<p>a</p>", nxt="b.html", up="b.html"),
                      "b.html": _page("B", "<p>b</p>", nxt="a.html", up="a.html")})
    (doc,) = parse_path(tmp_path)
    assert_section_invariants(doc)
    assert [s.title for s in doc.sections] == ["Root", "A", "B"]


def test_folder_of_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, {"b.txt": "bee\n", "a.md": "# A\n\nalpha\n", "c.png": "PNG", "empty.txt": "",
                      ".hidden/x.txt": "hidden\n", "sub/d.html": "<h1>D</h1><p>dee</p>"})
    _make_book(tmp_path / "sub" / "book")
    with caplog.at_level(logging.WARNING):
        docs = parse_path(tmp_path)
    assert [Path(d.source).name for d in docs] == ["a.md", "b.txt", "book", "d.html"]
    assert "c.png" in caplog.text and "empty.txt" in caplog.text
    assert [Path(d.source).name for d in parse_path(tmp_path, recursive=False)] == ["a.md", "b.txt"]
    for d in docs:
        assert_section_invariants(d)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no supported files"):
        parse_path(tmp_path / "nothing")


def test_import_is_cheap() -> None:
    code = "import sys, h2mt.index.parse; bad = {'bs4', 'lxml', 'pypdf', 'markdown_it', 'charset_normalizer'}; " \
           "print(sorted(bad & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def make_pdf(path: Path, pages: list[list[str]], outline: tuple[tuple[str, str, int, str | None], ...] = (),
             password: str | None = None) -> Path:
    """A PDF with Helvetica text lines per page, an optional outline and optional encryption."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer, n = PdfWriter(), NameObject
    font = DictionaryObject({n("/Type"): n("/Font"), n("/Subtype"): n("/Type1"), n("/BaseFont"): n("/Helvetica")})
    for lines in pages:
        page, stream = writer.add_blank_page(612, 792), DecodedStreamObject()
        stream.set_data(("BT /F1 12 Tf 14 TL 72 720 Td " + "".join(f"({x}) Tj T* " for x in lines) + "ET").encode())
        page[n("/Resources")] = DictionaryObject({n("/Font"): DictionaryObject({n("/F1"): font})})
        page.replace_contents(stream)
    items: dict[str, object] = {}
    for key, title, number, parent in outline:
        items[key] = writer.add_outline_item(title=title, page_number=number, parent=items.get(parent or ""))
    if password is not None:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    writer.write(path)
    return path


PDF_PAGES = [["Tiny Guide", "Contents page"], ["1 Overview", "Overview text.", "1.1 Details", "Detail text."],
             ["2 Usage", "Usage text mentions Overview again."]]


def test_pdf_with_outline(tmp_path: Path) -> None:
    outline = (("o", "Overview", 1, None), ("d", "Details", 1, "o"), ("u", "Usage", 2, None))
    (doc,) = parse_path(make_pdf(tmp_path / "guide.pdf", PDF_PAGES, outline))
    assert_section_invariants(doc)
    assert doc.meta["sections_from"] == "outline" and len(doc.meta["page_offsets"]) == 3
    assert [(s.path, s.meta.get("page")) for s in doc.sections] == [
        (("guide",), 1), (("Overview",), 2), (("Overview", "Details"), 2), (("Usage",), 3)]
    assert _body(doc, doc.sections[2]).strip() == "Detail text."
    assert "Contents page" in _body(doc, doc.sections[0])


def test_pdf_numbered_headings_and_plain(tmp_path: Path) -> None:
    (doc,) = parse_path(make_pdf(tmp_path / "n.pdf", PDF_PAGES))
    assert_section_invariants(doc)
    assert doc.meta["sections_from"] == "numbered"
    assert [s.path for s in doc.sections][1:] == [("1 Overview",), ("1 Overview", "1.1 Details"), ("2 Usage",)]
    (plain,) = parse_path(make_pdf(tmp_path / "p.pdf", [["just words"], ["more words"]]))
    assert_section_invariants(plain)
    assert len(plain.sections) == 1 and plain.sections[0].meta["kind"] == "document"


def test_pdf_bookmarks_are_found_on_numbered_heading_lines(tmp_path: Path) -> None:
    # each title also occurs before its heading line: only a line match finds the heading
    pages = [["Intro page"], ["See Usage below.", "Chapter 2. Usage", "Usage text."],
             ["No Extra Modules here.", "Appendix F. Extra Modules", "More."],
             ["Details follow.", "B.1 Details", "Detail text."]]
    outline = (("u", "Usage", 1, None), ("x", "Extra Modules", 2, None), ("d", "Details", 3, None))
    (doc,) = parse_path(make_pdf(tmp_path / "labelled.pdf", pages, outline))
    assert_section_invariants(doc)
    assert [_body(doc, s).strip().splitlines()[0] for s in doc.sections[1:]] == ["Usage text.", "More.", "Detail text."]


def test_pdf_numbered_lines_need_a_number_then_a_capital(tmp_path: Path) -> None:
    pages = [["1 Start", "Start text.", "2to3 is a tool", "3D graphics are fun", "2.1 Scope", "Scope text.",
              "3 lowercase is no heading", "B.1 Letters are not numbers here"]]
    (doc,) = parse_path(make_pdf(tmp_path / "lines.pdf", pages))
    assert [(s.title, s.level) for s in doc.sections] == [("1 Start", 1), ("2.1 Scope", 2)]


def test_pdf_failures(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="password"):
        parse_path(make_pdf(tmp_path / "enc.pdf", [["secret text"]], password="pw"))
    (doc,) = parse_path(make_pdf(tmp_path / "empty-pw.pdf", [["open text"]], password=""))
    assert "open text" in doc.text
    with pytest.raises(ParseError, match="no extractable text"):
        parse_path(make_pdf(tmp_path / "blank.pdf", [[], []]))
    good = make_pdf(tmp_path / "good.pdf", PDF_PAGES).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(good[: len(good) // 3])
    try:  # pypdf may recover part of a truncated file; either way only ParseError escapes
        assert_section_invariants(parse_path(tmp_path / "cut.pdf")[0])
    except ParseError:
        pass


def _need(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"{path} missing (Debian bash-doc / postgresql-doc-15)")


@pytest.mark.data
@_need(BASH_HTML)
def test_bash_reference_html() -> None:
    (doc,) = parse_path(BASH_HTML)
    assert_section_invariants(doc)
    assert doc.title == "Bash Reference Manual"
    assert _find(doc, "3.6.7 Here Strings").path == ("3 Basic Shell Features", "3.6 Redirections", "3.6.7 Here Strings")
    assert _find(doc, "3.5.8.1 Pattern Matching").path[-2] == "3.5.8 Filename Expansion"
    funcnest = _find(doc, "FUNCNEST")
    assert funcnest.meta["kind"] == "entry" and funcnest.path[:-1] == ("5 Shell Variables", "5.2 Bash Variables")
    assert "defines a maximum function nesting level" in _body(doc, funcnest)
    raw = BASH_HTML.read_text(encoding="utf-8")
    assert raw[_find(doc, "3.6.7 Here Strings").meta["source_offset"]:].startswith("<h4")


@pytest.mark.data
@_need(BASH_PDF)
def test_bash_reference_pdf() -> None:
    (doc,) = parse_path(BASH_PDF)
    assert_section_invariants(doc)
    here = _find(doc, "Here Strings")
    assert here.path == ("Basic Shell Features", "Redirections", "Here Strings")
    assert "A variant of here documents" in _body(doc, here)
    assert len(doc.sections) > 100


@pytest.mark.data
@_need(PG_BOOK / "index.html")
def test_postgresql_book() -> None:
    (doc,) = parse_path(PG_BOOK)
    assert_section_invariants(doc)
    assert doc.title.startswith("PostgreSQL 15") and len(doc.meta["pages"]) > 1000
    mc = next(s for s in doc.sections if s.title.startswith("max_connections"))
    assert "20.3. Connections and Authentication" in mc.path and "Chapter 20. Server Configuration" in mc.path
    assert mc.path[0] == "Part III. Server Administration" and mc.meta["page"] == "runtime-config-connection.html"
    assert mc.meta["kind"] == "entry" and mc.meta["anchor"] == "GUC-MAX-CONNECTIONS"


def test_pdf_contents_and_index_pages_are_not_content(tmp_path: Path) -> None:
    pages = [["Contents", "1 Overview ........ 2", "1.1 Details ....... 2", "2 Usage ........... 3",
              "Signals . . . . . . . . 42"],
             ["1 Overview", "Overview text.", "1.1 Details", "Detail text."],
             ["2 Usage", "Usage text mentions Overview again.", "See Signals ........ 42"],
             ["Index", "aliases, 12, 45", "arrays, 7", "builtins, 3, 9-11", "PIPESTATUS, 42", "signals, 42, 43"]]
    (doc,) = parse_path(make_pdf(tmp_path / "book.pdf", pages))
    assert_section_invariants(doc)
    assert "........" not in doc.text and ". . . ." not in doc.text
    assert "aliases, 12, 45" not in doc.text and "PIPESTATUS, 42" not in doc.text
    assert "Overview text." in doc.text and "Usage text mentions Overview again." in doc.text
    assert [s.title for s in doc.sections if s.title] == ["1 Overview", "1.1 Details", "2 Usage"]
    assert len(doc.meta["page_offsets"]) == 4  # pages keep their numbering


def test_a_zip_with_a_text_extension_is_rejected(tmp_path: Path) -> None:
    import zipfile

    fake = tmp_path / "report.txt"
    with zipfile.ZipFile(fake, "w") as z:  # e.g. a .docx renamed, or saved with the wrong extension
        z.writestr("word/document.xml", "<w:document>" + "text " * 200 + "</w:document>")
    with pytest.raises(ParseError, match="zip archive.*docx"):
        parse_path(fake)
    (tmp_path / "notes.md").write_bytes(b"%PDF-1.4\n" + b"% plain ascii bytes\n" * 20)
    with pytest.raises(ParseError, match="is a PDF file.*\\.pdf"):
        parse_path(tmp_path / "notes.md")
    (tmp_path / "pic.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"abcdefgh" * 40)
    with pytest.raises(ParseError, match="is a PNG image"):
        parse_path(tmp_path / "pic.txt")


def test_one_empty_file_among_good_sources_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from h2mt.index.build import parse_sources

    _write(tmp_path, {"a.md": "# A\n\nalpha\n", "empty.md": "", "b.txt": "bee\n"})
    with caplog.at_level(logging.WARNING):
        docs = parse_sources([tmp_path / "a.md", tmp_path / "empty.md", tmp_path / "b.txt"])
    assert [Path(d.source).name for d in docs] == ["a.md", "b.txt"]
    assert "empty.md" in caplog.text
    with pytest.raises(ParseError, match="empty"):
        parse_sources([tmp_path / "empty.md"])
    (tmp_path / "bad.txt").write_bytes(b"abc\x00def" * 10)
    with pytest.raises(ParseError, match="binary"):  # only emptiness is skipped: a bad file still fails
        parse_sources([tmp_path / "a.md", tmp_path / "bad.txt"])
