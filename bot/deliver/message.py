"""The message one subscriber receives: MIME, headers and links around the rendered parts.

An edition's email is encoded once for everyone (:func:`prepare`); only the lines that hold a
subscriber's links are encoded per message (:func:`message_bytes`), and the cards' lines, which
hold only the reader's signed token, are stencils (:class:`Stencil`). Every header value is checked
for line breaks (HeaderError), so nothing from a title or an address can add a header.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import html
import re
from dataclasses import dataclass
from email import policy
from email.utils import format_datetime

from bot.errors import HeaderError
from bot.models import Edition
from bot.render.email import FEEDBACK_MARK, MANAGE_MARK, UNSUBSCRIBE_MARK, EmailParts, fill

_SMTP = policy.SMTP
_SMTPUTF8 = policy.SMTPUTF8


@dataclass(frozen=True, slots=True)
class Prepared:
    """An edition's email encoded once for everyone: only the lines that hold the unsubscribe
    link are encoded per subscriber (a quoted-printable line encodes on its own)."""

    head: bytes
    text: tuple[bytes | str | Stencil, ...]
    html: tuple[bytes | str | Stencil, ...]
    edition_date: str
    domain: str


def _header_safe(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderError(f"{name}: {value[:60]!r} holds a line break, so the message was not sent")
    return value


def _ascii(name: str, value: str) -> str:
    if not value.isascii() or len(value) > 900:
        raise HeaderError(f"{name}: {value[:60]!r} is not a short ASCII value, so the message was not sent")
    return value


def _qp(line: str) -> bytes:
    return binascii.b2a_qp(line.encode(), istext=True).replace(b"=\n", b"=\r\n")


_STAND_INS = "~^`|{}"
"""Characters QP writes as they are, like every character of a signed token (URL-safe base64
and "."): one absent from a line stands in for the token when the line is encoded once."""


class Stencil:
    """A line that holds only the cards' token marker, encoded once per token length: every card
    of an email has one (four links each), and encoding each per message cost three times the
    rest of the message. The line is encoded with a stand-in token (a character QP writes as it
    is, absent from the line, repeated to the token's length) and its soft line breaks placed
    so that none falls inside a stand-in, so that a message's line is one ``bytes.replace``."""

    __slots__ = ("_encoded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._encoded: dict[int, tuple[bytes, bytes] | None] = {}

    def encode(self, token: str, data: bytes | None) -> bytes:
        """The line with ``token``; ``data``: the token's bytes when every character of it is
        one QP writes as it is (printable ASCII but "="), else None (:func:`_stencil_bytes`)."""
        found = self._encoded.get(len(token), ())
        if found == ():
            found = self._encoded[len(token)] = self._stand_in(len(token))
        if found is None or data is None:
            return _qp(fill(self.text, "", "", token))
        encoded, stand_in = found  # type: ignore[misc]
        return encoded.replace(stand_in, data)

    def _stand_in(self, length: int) -> tuple[bytes, bytes] | None:
        """The line encoded with a stand-in token of ``length`` and the stand-in; None when
        every stand-in character occurs in the line or the token cannot fit on a QP line."""
        char = next((c for c in _STAND_INS if c not in self.text), None)
        if char is None or not 0 < length < _QP_LINE:
            return None
        stand_in = (char * length).encode()
        flat = _qp(self.text.replace(FEEDBACK_MARK, char * length)).replace(b"=\r\n", b"")
        lines, line = [], b""
        for unit in re.findall(re.escape(stand_in) + rb"|=[0-9A-F]{2}|.", flat, re.DOTALL):
            if len(line) + len(unit) > _QP_LINE:
                lines.append(line)
                line = b""
            line += unit
        lines.append(line)
        return b"=\r\n".join(lines), stand_in


_QP_LINE = 75
"""A QP line's characters before its soft break's "=" (RFC 2045: 76 in all)."""


def _stencil_bytes(token: str) -> bytes | None:
    return token.encode() if all(32 < ord(c) < 127 and c != "=" for c in token) else None


def _encode(body: str) -> tuple[bytes | str | Stencil, ...]:
    """The body's lines, each encoded now unless it holds a subscriber's link (a str, encoded
    per message) or only the cards' token (a :class:`Stencil`); consecutive encoded lines are
    joined into one piece, so that a message joins a few hundred pieces, not every line."""
    def one(line: str) -> bytes | str | Stencil:
        if UNSUBSCRIBE_MARK in line or MANAGE_MARK in line:
            return line
        return Stencil(line) if FEEDBACK_MARK in line else _qp(line)
    pieces: list[bytes | str | Stencil] = []
    for line in map(one, body.split("\n")):
        if type(line) is bytes and pieces and type(pieces[-1]) is bytes:
            pieces[-1] += b"\r\n" + line
        else:
            pieces.append(line)
    return tuple(pieces)


def prepare(parts: EmailParts, *, edition: Edition, sender: str, date: dt.datetime) -> Prepared:
    domain = sender.rpartition("@")[2] or "paperboy"
    head = "".join(_SMTP.fold(name, _header_safe(name, value)) for name, value in (
        ("Subject", parts.subject), ("From", sender), ("Date", format_datetime(date)),
        ("List-Id", f"paperboy digest <paperboy.{domain}>"),
        ("Auto-Submitted", "auto-generated"), ("Precedence", "bulk"),
    ))
    return Prepared(head.encode(), _encode(parts.text), _encode(parts.html), edition.date.isoformat(), domain)


def default_message_id(prepared: Prepared, to: str) -> str:
    """A Message-ID derived from the edition and the recipient (previews; the outbox stores its own)."""
    digest = hashlib.sha256(f"{prepared.edition_date}\n{to}".encode()).hexdigest()[:20]
    return f"<edition-{prepared.edition_date}.{digest}@{prepared.domain}>"


def message_bytes(
    prepared: Prepared, *, to: str, unsubscribe_url: str, unsubscribe_mailto: str | None = None,
    message_id: str | None = None, manage_url: str | None = None, feedback_token: str = "",
) -> bytes:
    """The complete MIME message (CRLF line ends, ready for SMTP) one subscriber receives.

    The MIME boundary derives from the Message-ID, so a retried message is byte for byte the
    one tried before and a preview is reproducible. Any value with CR or LF raises HeaderError.
    """
    message_id = message_id or default_message_id(prepared, to)
    for name, value in (("To", to), ("Message-ID", message_id), ("List-Unsubscribe", unsubscribe_url),
                        ("List-Unsubscribe", unsubscribe_mailto or "")):
        _header_safe(name, value)
    boundary = "=_paperboy_" + hashlib.sha256(message_id.encode()).hexdigest()[:20]  # "=_" is never QP text
    manage = manage_url or unsubscribe_url
    _header_safe("manage link", manage)
    _header_safe("feedback token", feedback_token)
    escaped = (html.escape(unsubscribe_url, quote=True), html.escape(manage, quote=True),
               html.escape(feedback_token, quote=True))

    data = _stencil_bytes(feedback_token)

    def body(lines: tuple[bytes | str | Stencil, ...], links: tuple[str, str, str]) -> bytes:
        return b"\r\n".join([line if type(line) is bytes else line.encode(links[2], data)
                             if isinstance(line, Stencil) else _qp(fill(line, *links))  # type: ignore[arg-type]
                             for line in lines])

    # URIs are written as they are (folded only between them): an encoded word would hide the
    # link from mail clients, and RFC 5322 allows lines of up to 998 characters.
    unsubscribe = f"<{_ascii('List-Unsubscribe', unsubscribe_url)}>" + (
        f",\r\n <{_ascii('List-Unsubscribe', unsubscribe_mailto)}>" if unsubscribe_mailto else "")
    to_policy = _SMTP if to.isascii() else _SMTPUTF8
    head = prepared.head + (
        to_policy.fold("To", to)
        + f"Message-ID: {_ascii('Message-ID', message_id)}\r\n"
        + f"List-Unsubscribe: {unsubscribe}\r\n"
        + "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        + "MIME-Version: 1.0\r\n"
        + f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'
    ).encode()
    part = '--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    return b"".join((
        head, b"\r\n",
        part.format(b=boundary, kind="plain").encode(), body(prepared.text, (unsubscribe_url, manage, feedback_token)),
        b"\r\n",
        part.format(b=boundary, kind="html").encode(), body(prepared.html, escaped), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ))


def compose(
    parts: EmailParts, *, edition: Edition, sender: str, to: str, unsubscribe_url: str, date: dt.datetime,
    unsubscribe_mailto: str | None = None, message_id: str | None = None, manage_url: str | None = None,
    feedback_token: str = "",
) -> bytes:
    """One subscriber's complete message, for a single send or a preview."""
    return message_bytes(prepare(parts, edition=edition, sender=sender, date=date), to=to,
                         unsubscribe_url=unsubscribe_url, unsubscribe_mailto=unsubscribe_mailto,
                         message_id=message_id, manage_url=manage_url, feedback_token=feedback_token)
