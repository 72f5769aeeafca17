"""The digest email: subject, HTML (CSS inlined) and text, rendered once per edition.

What differs per subscriber (the unsubscribe and manage links) is left as a marker in the shared parts and
filled in by :func:`personalise`, a string replacement, so sending to many subscribers costs
one render. Gmail clips HTML beyond 102 KB, taking the footer and its unsubscribe link with it:
when an edition is larger, only the top papers of each topic are shown, with a link to the full
edition in the archive.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import html
from dataclasses import dataclass
from email import policy
from email.utils import format_datetime

import css_inline
import jinja2

from bot.errors import HeaderError
from bot.models import Edition, Section
from bot.render import clean

MAX_HTML_BYTES = 100 * 1024  # under Gmail's 102 KB, with room for the personal parts
UNSUBSCRIBE_MARK = "paperboy-unsubscribe-link"
MANAGE_MARK = "paperboy-manage-link"
_INLINER = css_inline.CSSInliner(keep_style_tags=True)
_SMTP = policy.SMTP
_SMTPUTF8 = policy.SMTPUTF8


@dataclass(frozen=True, slots=True)
class Links:
    archive: str
    edition: str
    feed: str
    atom: str


@dataclass(frozen=True, slots=True)
class EmailParts:
    """The shared parts of one edition's email; ``shown`` papers of ``edition.papers``."""

    subject: str
    html: str
    text: str
    shown: int
    truncated: bool


def links_for(base_url: str, edition: Edition) -> Links:
    return Links(archive=base_url, edition=f"{base_url}editions/{edition.date.isoformat()}.html",
                 feed=f"{base_url}feed.xml", atom=f"{base_url}atom.xml")


def render_email(env: jinja2.Environment, edition: Edition, links: Links, top_n: int) -> EmailParts:
    """Render the whole edition, or its top ``top_n`` (then fewer) papers per topic when too big."""
    limits: list[int | None] = [None] + [n for n in (top_n, 5, 3, 1) if n <= top_n]
    for limit in limits:
        parts = _render(env, edition, links, limit)
        if len(parts.html.encode()) <= MAX_HTML_BYTES:
            return parts
    return parts


def _render(env: jinja2.Environment, edition: Edition, links: Links, limit: int | None) -> EmailParts:
    sections = [
        Section(s.slug, s.label, s.papers[:limit] if limit is not None else s.papers) for s in edition.sections
    ]
    shown = sum(len(s.papers) for s in sections)
    context = {
        "edition": edition, "sections": sections, "hidden": {s.slug: len(s.papers) for s in edition.sections},
        "links": links, "truncated": shown < edition.papers, "shown": shown,
        "unsubscribe": UNSUBSCRIBE_MARK, "manage": MANAGE_MARK, "date_text": f"{edition.date.day} {edition.date:%b %Y}",
    }
    subject = clean(env.get_template("email/subject.txt").render(context))
    body = env.get_template("email/digest.html").render(context)
    text = env.get_template("email/digest.txt").render(context)
    return EmailParts(subject, _INLINER.inline(body), text, shown, shown < edition.papers)


def _fill(text: str, unsubscribe: str, manage: str) -> str:
    return text.replace(UNSUBSCRIBE_MARK, unsubscribe).replace(MANAGE_MARK, manage)


def personalise(parts: EmailParts, unsubscribe_url: str, manage_url: str | None = None) -> tuple[str, str]:
    """The HTML and text for one subscriber."""
    manage = manage_url or unsubscribe_url
    return (_fill(parts.html, html.escape(unsubscribe_url, quote=True), html.escape(manage, quote=True)),
            _fill(parts.text, unsubscribe_url, manage))


@dataclass(frozen=True, slots=True)
class Prepared:
    """An edition's email encoded once for everyone: only the lines that hold the unsubscribe
    link are encoded per subscriber (a quoted-printable line encodes on its own)."""

    head: bytes
    text: tuple[bytes | str, ...]
    html: tuple[bytes | str, ...]
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


def _encode(body: str) -> tuple[bytes | str, ...]:
    return tuple(line if UNSUBSCRIBE_MARK in line or MANAGE_MARK in line else _qp(line) for line in body.split("\n"))


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
    message_id: str | None = None, manage_url: str | None = None,
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
    escaped = (html.escape(unsubscribe_url, quote=True), html.escape(manage, quote=True))

    def body(lines: tuple[bytes | str, ...], links: tuple[str, str]) -> bytes:
        return b"\r\n".join(line if isinstance(line, bytes) else _qp(_fill(line, *links)) for line in lines)

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
        part.format(b=boundary, kind="plain").encode(), body(prepared.text, (unsubscribe_url, manage)), b"\r\n",
        part.format(b=boundary, kind="html").encode(), body(prepared.html, escaped), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ))


def compose(
    parts: EmailParts, *, edition: Edition, sender: str, to: str, unsubscribe_url: str, date: dt.datetime,
    unsubscribe_mailto: str | None = None, message_id: str | None = None, manage_url: str | None = None,
) -> bytes:
    """One subscriber's complete message, for a single send or a preview."""
    return message_bytes(prepare(parts, edition=edition, sender=sender, date=date), to=to,
                         unsubscribe_url=unsubscribe_url, unsubscribe_mailto=unsubscribe_mailto,
                         message_id=message_id, manage_url=manage_url)
