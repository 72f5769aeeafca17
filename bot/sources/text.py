"""Reading untrusted text files: size, hash, encoding, then lines, without loading them whole.

:func:`sniff` reads a file once in chunks to hash it and reject what is plainly not text, so an
unchanged file is recognised without parsing. :func:`read_lines` then streams the text with
universal newlines and a bounded line length, so a 100 MB dump costs a few MB of memory and a
file of one huge line fails cleanly. Decoding is strict: a file that is not UTF-8 raises
:class:`NotDecodable` and the caller may read it again as Windows-1252.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import NotDecodable, SourceError
from bot.redact import printable

CHUNK = 1 << 20
MAX_LINE = CHUNK


@dataclass(frozen=True, slots=True)
class Sniff:
    """What one pass over the bytes found: the content hash, size and how the file ends."""

    sha256: str
    size: int
    ends_with_newline: bool
    cut_mid_character: bool


def sniff(path: Path, max_bytes: int) -> Sniff:
    """Hash ``path``; raise :class:`SourceError` for an empty, binary, UTF-16 or oversized file."""
    name = printable(str(path))
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
    offset = 0
    last = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if offset == 0 and chunk[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                    raise SourceError(name, "is UTF-16 text; save it as UTF-8")
                if b"\x00" in chunk and _binary(chunk):
                    at = offset + chunk.index(b"\x00")
                    raise SourceError(name, f"is a binary file (NUL byte at offset {at}), not a text dump")
                digest.update(chunk)
                offset += len(chunk)
                last = chunk
    except OSError as exc:
        raise SourceError(name, f"cannot be read ({exc.strerror or exc})") from None
    return Sniff(digest.hexdigest(), size, last.endswith((b"\n", b"\r")), _cut_utf8(last[-4:]))


_CONTROL_BYTES = bytes([*range(9), *range(14, 32), 127])


def _binary(chunk: bytes) -> bool:
    """A stray NUL is a damaged text's (the parser removes it with a warning); NULs beyond 1 % of
    the bytes, or control bytes beyond 5 %, are a binary file's."""
    controls = len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
    return chunk.count(0) * 100 > len(chunk) or controls * 20 > len(chunk)


def _cut_utf8(tail: bytes) -> bool:
    """True when ``tail`` ends inside a UTF-8 multi-byte sequence (a file cut mid-character)."""
    for back in range(1, min(4, len(tail)) + 1):
        byte = tail[-back]
        if byte < 0x80:
            return False
        if byte >= 0xC0:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return needed > back
    return False


def read_lines(
    path: Path,
    encoding: str = "utf-8-sig",
    *,
    drop_cut_tail: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield the lines of ``path`` without their line ends (``\\n``, ``\\r\\n`` or ``\\r``).

    ``drop_cut_tail`` drops an incomplete character at the very end instead of failing on it;
    ``on_chunk`` is told how many bytes have been read so far, for progress bars.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    name = printable(str(path))
    number = offset = 0
    rest = ""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk and not drop_cut_tail)
            except UnicodeDecodeError as exc:
                raise NotDecodable(name, _label(encoding), offset + exc.start) from None
            offset += len(chunk)
            if on_chunk is not None:
                on_chunk(offset)
            text = rest + text
            carry = ""
            if text.endswith("\r") and chunk:
                text, carry = text[:-1], "\r"
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            rest = lines.pop() + carry
            # Only the line continued from the last chunk can be longer than one chunk.
            if len(rest) > MAX_LINE or (lines and len(lines[0]) > MAX_LINE):
                at = number + 1 if lines and len(lines[0]) > MAX_LINE else number + len(lines) + 1
                raise SourceError(name, f"line {at} is longer than {MAX_LINE:,} characters; "
                                        "not a Daily Papers dump")
            number += len(lines)
            yield from lines
            if not chunk:
                break
    if rest:
        yield rest


def _label(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(encoding, encoding)
