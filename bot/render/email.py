"""The digest email: subject, HTML (CSS inlined) and text, rendered once per edition.

What differs per subscriber (the unsubscribe link) is left as a marker in the shared parts and
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

from bot.models import Edition, Section
from bot.render import clean

MAX_HTML_BYTES = 100 * 1024  # under Gmail's 102 KB, with room for the personal parts
UNSUBSCRIBE_MARK = "paperboy-unsubscribe-link"
_INLINER = css_inline.CSSInliner(keep_style_tags=True)
_SMTP = policy.SMTP


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
        "unsubscribe": UNSUBSCRIBE_MARK, "date_text": f"{edition.date.day} {edition.date:%b %Y}",
    }
    subject = clean(env.get_template("email/subject.txt").render(context))
    body = env.get_template("email/digest.html").render(context)
    text = env.get_template("email/digest.txt").render(context)
    return EmailParts(subject, _INLINER.inline(body), text, shown, shown < edition.papers)


def personalise(parts: EmailParts, unsubscribe_url: str) -> tuple[str, str]:
    """The HTML and text for one subscriber."""
    return (parts.html.replace(UNSUBSCRIBE_MARK, html.escape(unsubscribe_url, quote=True)),
            parts.text.replace(UNSUBSCRIBE_MARK, unsubscribe_url))


@dataclass(frozen=True, slots=True)
class Prepared:
    """An edition's email encoded once for everyone: only the lines that hold the unsubscribe
    link are encoded per subscriber (a quoted-printable line encodes on its own)."""

    head: bytes
    text: tuple[bytes | str, ...]
    html: tuple[bytes | str, ...]
    edition_date: str
    domain: str


def _qp(line: str) -> bytes:
    return binascii.b2a_qp(line.encode(), istext=True).replace(b"=\n", b"=\r\n")


def _encode(body: str) -> tuple[bytes | str, ...]:
    return tuple(line if UNSUBSCRIBE_MARK in line else _qp(line) for line in body.split("\n"))


def prepare(parts: EmailParts, *, edition: Edition, sender: str, date: dt.datetime) -> Prepared:
    head = "".join(_SMTP.fold(name, value) for name, value in (
        ("Subject", parts.subject), ("From", sender), ("Date", format_datetime(date)),
    ))
    return Prepared(head.encode(), _encode(parts.text), _encode(parts.html), edition.date.isoformat(),
                    sender.rpartition("@")[2] or "paperboy")


def message_bytes(prepared: Prepared, *, to: str, unsubscribe_url: str) -> bytes:
    """The complete MIME message (CRLF line ends, ready for SMTP) one subscriber receives.

    The Message-ID and the MIME boundary derive from the edition and the recipient, so a resent
    digest is recognisably the same message and a preview is reproducible.
    """
    digest = hashlib.sha256(f"{prepared.edition_date}\n{to}".encode()).hexdigest()[:20]
    boundary = f"=_paperboy_{digest}"  # "=_" cannot occur in quoted-printable text
    escaped = html.escape(unsubscribe_url, quote=True)

    def body(lines: tuple[bytes | str, ...], link: str) -> bytes:
        return b"\r\n".join(
            line if isinstance(line, bytes) else _qp(line.replace(UNSUBSCRIBE_MARK, link)) for line in lines
        )

    head = prepared.head + "".join(_SMTP.fold(name, value) for name, value in (
        ("To", to),
        ("Message-ID", f"<edition-{prepared.edition_date}.{digest}@{prepared.domain}>"),
        ("List-Unsubscribe", f"<{unsubscribe_url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    )).encode()
    part = '--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    return b"".join((
        head, b"\r\n",
        part.format(b=boundary, kind="plain").encode(), body(prepared.text, unsubscribe_url), b"\r\n",
        part.format(b=boundary, kind="html").encode(), body(prepared.html, escaped), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ))


def compose(
    parts: EmailParts, *, edition: Edition, sender: str, to: str, unsubscribe_url: str, date: dt.datetime,
) -> bytes:
    """One subscriber's complete message, for a single send or a preview."""
    return message_bytes(prepare(parts, edition=edition, sender=sender, date=date),
                         to=to, unsubscribe_url=unsubscribe_url)
