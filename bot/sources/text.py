"""Reading untrusted text files: size, hash, encoding, then lines, without loading them whole.

:func:`sniff` reads a file once in chunks to hash it and decide how to decode it, so that an
unchanged file is recognised without parsing and an undecodable one fails before anything is
written. :func:`read_lines` then streams the text with universal newlines and a bounded line
length, so a 100 MB dump costs a few MB of memory and a file of one huge line fails cleanly.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import SourceError

CHUNK = 1 << 20
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class Sniff:
    """How to read a file: its content hash, size, encoding and what was odd about it."""

    sha256: str
    size: int
    encoding: str
    errors: str
    warnings: tuple[str, ...]
    ends_with_newline: bool


def sniff(path: Path, max_bytes: int) -> Sniff:
    """Hash ``path`` and choose its encoding: UTF-8 (with or without BOM), else Windows-1252.

    Raises :class:`SourceError` for an empty, binary, UTF-16, oversized or undecodable file.
    """
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SourceError(name, "no such file") from None
    except OSError as exc:
        raise SourceError(name, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise SourceError(name, "empty file")
    if size > max_bytes:
        raise SourceError(
            name,
            f"is {size / 2**20:.0f} MiB, larger than the limit of {max_bytes / 2**20:.0f} MiB "
            "(ingest.max_file_mb)",
        )
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    utf8_ok, tail_cut, last = True, False, b""
    offset = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if offset == 0 and chunk[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                    raise SourceError(name, "is UTF-16 text; save it as UTF-8")
                if b"\x00" in chunk:
                    at = offset + chunk.index(b"\x00")
                    raise SourceError(name, f"is a binary file (NUL byte at offset {at}), not a text dump")
                digest.update(chunk)
                if utf8_ok:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError:
                        utf8_ok = False
                offset += len(chunk)
                last = chunk
    except OSError as exc:
        raise SourceError(name, f"cannot be read ({exc.strerror or exc})") from None
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            tail_cut = True
    ends_with_newline = last.endswith((b"\n", b"\r"))
    if utf8_ok:
        warnings = ("file ends in the middle of a character (truncated?)",) if tail_cut else ()
        return Sniff(digest.hexdigest(), size, "utf-8-sig", "ignore" if tail_cut else "strict",
                     warnings, ends_with_newline)
    if not _decodes(path, "cp1252"):
        raise SourceError(name, "is neither UTF-8 nor Windows-1252 text")
    return Sniff(digest.hexdigest(), size, "cp1252", "strict",
                 ("not valid UTF-8; decoded as Windows-1252",), ends_with_newline)


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_lines(path: Path, how: Sniff) -> Iterator[str]:
    """Yield the lines of ``path`` (newline kept) as ``how`` says to decode them."""
    with path.open(encoding=how.encoding, errors=how.errors, newline=None) as handle:
        number = 0
        while line := handle.readline(MAX_LINE):
            number += 1
            if len(line) == MAX_LINE and not line.endswith("\n"):
                raise SourceError(
                    str(path), f"line {number} is longer than {MAX_LINE:,} characters; not a Daily Papers dump"
                )
            yield line
