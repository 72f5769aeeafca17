"""The digest email: subject, HTML (CSS inlined) and text, rendered once per edition.

What differs per subscriber (the unsubscribe and manage links, the signed token in each card's
"more / less like this" links) is left as a marker in the shared
parts and filled in by :func:`personalise`, a string replacement, so sending to many subscribers
costs one render. Rendering stays pure: the MIME message is put together on the deliver side
(``bot.deliver.message``). Gmail clips HTML beyond 102 KB, taking the footer and its unsubscribe link with it:
when an edition is larger, only the top papers of each topic are shown, with a link to the full
edition in the archive.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email import policy
from functools import lru_cache

import css_inline
import jinja2
from markupsafe import Markup

from bot.models import Edition, EditionPaper, Section
from bot.render import clean

MAX_HTML_BYTES = 100 * 1024  # under Gmail's 102 KB, with room for the personal parts
UNSUBSCRIBE_MARK = "paperboy-unsubscribe-link"
MANAGE_MARK = "paperboy-manage-link"
FEEDBACK_MARK = "paperboy-feedback-token"
FEEDBACK_ROOM = 64
"""The most a reader's signed feedback token takes where each card has :data:`FEEDBACK_MARK`."""
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
        personal = parts.html.count(FEEDBACK_MARK) * (FEEDBACK_ROOM - len(FEEDBACK_MARK))
        if len(parts.html.encode()) + personal <= MAX_HTML_BYTES:
            return parts
    return parts


def _dates(edition: Edition) -> str:
    """"20 Nov 2026", or for a weekly or monthly copy the days it gathers, "14–20 Nov 2026"."""
    day = f"{edition.date.day} {edition.date:%b %Y}"
    if edition.since is None:
        return day
    first = edition.since
    if (first.year, first.month) == (edition.date.year, edition.date.month):
        return f"{first.day}–{day}"
    start = f"{first.day} {first:%b}" if first.year == edition.date.year else f"{first.day} {first:%b %Y}"
    return f"{start} – {day}"


def _render(env: jinja2.Environment, edition: Edition, links: Links, limit: int | None) -> EmailParts:
    sections = [
        Section(s.slug, s.label, s.papers[:limit] if limit is not None else s.papers) for s in edition.sections
    ]
    shown = sum(len(s.papers) for s in sections)
    feedback = f"{links.archive}f/{FEEDBACK_MARK}/"
    context = {
        "paper_card": lambda paper, in_climbing: _card(env, "html", paper, in_climbing, links, feedback),
        "paper_text": lambda paper, in_climbing: _card(env, "txt", paper, in_climbing, links, feedback),
        "edition": edition, "sections": sections, "hidden": {s.slug: len(s.papers) for s in edition.sections},
        "links": links, "truncated": shown < edition.papers, "shown": shown,
        "ranked": any(p.upvotes is not None for s in edition.sections for p in s.papers),
        "unsubscribe": UNSUBSCRIBE_MARK, "manage": MANAGE_MARK, "date_text": _dates(edition),
        "feedback": feedback,
    }
    subject = clean(env.get_template("email/subject.txt").render(context))
    body = env.get_template("email/digest.html").render(context)
    text = env.get_template("email/digest.txt").render(context)
    return EmailParts(subject, _INLINER.inline(body), text, shown, shown < edition.papers)


@lru_cache(maxsize=8192)
def _card(env: jinja2.Environment, kind: str, paper: EditionPaper, in_climbing: bool, links: Links,
          feedback: str) -> Markup:
    """One paper's card in the email's HTML or text (``kind``), rendered once per paper and
    kept: every copy of an edition (each ranked reader's is their own) shows the same cards in
    its own order, and wrapping a card's text took most of a copy's rendering."""
    return Markup(env.get_template(f"email/_paper.{kind}").render(paper=paper, in_climbing=in_climbing, links=links,
                                                                  feedback=feedback))


def fill(text: str, unsubscribe: str, manage: str, feedback: str = "") -> str:
    """The shared text with one subscriber's links (and the signed token of their cards' links)
    in place of the markers."""
    text = text.replace(UNSUBSCRIBE_MARK, unsubscribe).replace(MANAGE_MARK, manage)
    return text.replace(FEEDBACK_MARK, feedback) if FEEDBACK_MARK in text else text


def personalise(parts: EmailParts, unsubscribe_url: str, manage_url: str | None = None,
                feedback_token: str = "") -> tuple[str, str]:
    """The HTML and text for one subscriber."""
    manage = manage_url or unsubscribe_url
    return (fill(parts.html, html.escape(unsubscribe_url, quote=True), html.escape(manage, quote=True),
                 html.escape(feedback_token, quote=True)),
            fill(parts.text, unsubscribe_url, manage, feedback_token))
