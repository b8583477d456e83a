"""Plain-text files: safe reading (binary rejection, encoding detection) and one-section documents."""

from __future__ import annotations

import codecs
import logging
import os
from pathlib import Path

from ...errors import EmptySourceError, InputError, ParseError
from ...types import ParsedDocument, Section
from ._structure import doc_stem

__all__ = ["read_text_file", "decode_bytes", "parse_text_file", "parse_plain_text"]

logger = logging.getLogger(__name__)

_SNIFF = 8192
_MAX_CONTROL_SHARE = 0.10
_ALLOWED_CONTROL = frozenset(b"\t\n\r\x0b\x0c\x08\x1b")
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# Signatures of binary formats that are often given a text-ish extension (a renamed .docx, a PDF saved as .md).
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a zip archive", "a .docx/.xlsx/.odt/.epub is zipped XML: export it to text, Markdown or PDF"),
    (b"PK\x05\x06", "an (empty) zip archive", "unpack it and index the files inside"),
    (b"%PDF-", "a PDF file", "give it a .pdf extension so the PDF parser reads it"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office (OLE) document", "export it to text or PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "images cannot be indexed; run OCR first"),
    (b"\xff\xd8\xff", "a JPEG image", "images cannot be indexed; run OCR first"),
    (b"GIF8", "a GIF image", "images cannot be indexed"),
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it first (gunzip)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it and index the files inside"),
    (b"Rar!", "a RAR archive", "unpack it and index the files inside"),
    (b"\x7fELF", "an executable (ELF)", "only documents can be indexed"),
)


def _check_not_binary(data: bytes, name: str) -> None:
    """Raise :class:`ParseError` when the first bytes look like a binary file (a known binary
    signature, NUL bytes, or many control bytes)."""
    for magic, what, todo in _MAGIC:
        if data.startswith(magic):
            raise ParseError(f"{name} is {what}, not text, whatever its extension says; {todo}")
    head = data[:_SNIFF]
    if b"\x00" in head:
        raise ParseError(
            f"{name} looks like a binary file (it contains NUL bytes); "
            "only text, Markdown, HTML and PDF files can be indexed"
        )
    controls = sum(1 for b in head if b < 32 and b not in _ALLOWED_CONTROL)
    if head and controls / len(head) > _MAX_CONTROL_SHARE:
        raise ParseError(
            f"{name} looks like a binary file ({controls} control bytes in the first "
            f"{len(head)}); only text, Markdown, HTML and PDF files can be indexed"
        )


def _detect(data: bytes, name: str) -> str:
    """Decode non-UTF-8 bytes with charset_normalizer, or raise :class:`ParseError`.

    Candidates that tie with the best guess (same chaos and coherence) are resolved in
    favour of the common Western legacy encodings, which detection cannot tell apart
    from their Central-European cousins on short texts.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    tried = ["utf-8", *(m.encoding for m in matches[:5]), "automatic detection"]
    if not matches:
        raise ParseError(
            f"{name} is not valid UTF-8 and its encoding could not be detected "
            f"(tried: {', '.join(tried)}); convert it to UTF-8 (e.g. with iconv) and retry"
        )
    best = matches[0]
    ties = [m for m in matches if abs(m.chaos - best.chaos) < 1e-3 and abs(m.coherence - best.coherence) < 1e-3]
    for preferred in _PREFERRED:
        if any(preferred == m.encoding or preferred in m.could_be_from_charset for m in ties):
            try:
                text = data.decode(preferred)
            except UnicodeDecodeError:
                continue
            logger.info("%s is not UTF-8; decoding it as %s", name, preferred)
            return text
    logger.info("%s is not UTF-8; decoding it as %s", name, best.encoding)
    return str(best)


def decode_bytes(data: bytes, name: str = "<bytes>") -> str:
    """Decode file bytes to text: BOM, then UTF-8, then detected encoding.

    Raises :class:`ParseError` for binary data, undecodable data and empty or
    whitespace-only content.
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ParseError(f"{name} starts with a {encoding} byte-order mark but is not "
                                 f"valid {encoding} ({exc.reason}); convert it to UTF-8") from exc
            break
    if text is None:
        _check_not_binary(data, name)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _detect(data, name)
    if not text.strip():
        raise EmptySourceError(f"{name} is empty; nothing to index")
    return text


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a text file safely and return its decoded content (exactly, no newline changes)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{p} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{p} is a directory, not a file") from exc
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from exc
    return decode_bytes(data, str(p))


def parse_plain_text(text: str, source: str = "<text>", title: str | None = None) -> ParsedDocument:
    """Plain text as one document with a single section covering all of it."""
    if not text.strip():
        raise EmptySourceError(f"{source} is empty; nothing to index")
    title = title if title is not None else doc_stem(source)
    section = Section(title, (title,), 1, 0, len(text), {"kind": "document"})
    return ParsedDocument(source, title, text, [section], {"format": "text"})


def parse_text_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Parse a plain-text file (title = file stem, one section)."""
    return parse_plain_text(read_text_file(path), str(path))
