"""Exactly what a subscriber would receive for an edition, for the operator to look at before it
goes out: the HTML part, the text part, or the complete message."""

from __future__ import annotations

import datetime as dt

import jinja2

from bot.deliver.message import compose
from bot.render import environment
from bot.render.email import links_for, personalise, render_email
from bot.settings import Settings
from bot.store import Database
from bot.store import editions as edition_store

PREVIEW_TO = "subscriber@example.org"


def preview(
    database: Database, settings: Settings, date: dt.date | None = None, fmt: str = "html",
    now: dt.datetime | None = None, templates: jinja2.Environment | None = None,
) -> bytes:
    """The edition of ``date`` (default: the latest one) as ``html``, ``text`` or ``eml``."""
    with database.read() as session:
        edition, _ = edition_store.stored_edition(session, date)
    env = templates or environment(settings.templates_dir)
    parts = render_email(env, edition, links_for(settings.base_url, edition), settings.digest_email_top_n)
    unsubscribe = f"{settings.base_url}unsubscribe?token=preview"
    manage = f"{settings.base_url}manage?token=preview"
    if fmt == "eml":
        return compose(parts, edition=edition, sender=settings.mail_from, to=PREVIEW_TO,
                       unsubscribe_url=unsubscribe, date=now or edition.created_at, manage_url=manage,
                       feedback_token="preview")
    body_html, body_text = personalise(parts, unsubscribe, manage, "preview")
    return (body_html if fmt == "html" else body_text).encode()
