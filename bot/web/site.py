"""The feeds as the web serves them: rendered once per set of editions, kept in memory with their
validators and a gzip copy, and answered with 304 when the reader already has them.

The cache holds one rendering of the site. At most once a second a request asks the database
for the editions' fingerprint (how many, the newest, when it was built); when it changed, a new
edition (built by the daemon in another process) invalidates the cache and the next request
renders again. Feed readers poll with If-None-Match or If-Modified-Since, so most requests are
a dictionary lookup and a header comparison.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime

import jinja2
from starlette.requests import Request
from starlette.responses import Response

from bot.models import Edition
from bot.render.feeds import content_type, render_site, site_context
from bot.services.editions import Editions
from bot.settings import Settings

RECHECK_SECONDS = 1.0
FEEDS_MAX_AGE = 300


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: dt.datetime
    content_type: str

    @classmethod
    def of(cls, body: bytes, last_modified: dt.datetime, kind: str) -> Document:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(body, gzip.compress(body, 6, mtime=0), f'"{digest}"', last_modified.replace(microsecond=0), kind)


@dataclass(frozen=True, slots=True)
class Rendering:
    fingerprint: tuple[object, ...]
    editions: tuple[Edition, ...]
    feeds: dict[str, Document]
    context: dict[str, object]


class Site:
    """The current rendering, re-checked against the database at most every ``recheck`` seconds."""

    def __init__(self, editions: Editions, settings: Settings, env: jinja2.Environment,
                 recheck: float = RECHECK_SECONDS) -> None:
        self.editions, self.settings, self.env, self.recheck = editions, settings, env, recheck
        self._current: Rendering | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> Rendering:
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked < self.recheck:
            return current
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked < self.recheck:
                return self._current
            fingerprint = self.editions.fingerprint()
            if self._current is None or self._current.fingerprint != fingerprint:
                self._current = self._render(fingerprint)
            self._checked = time.monotonic()
            return self._current

    def _render(self, fingerprint: tuple[object, ...]) -> Rendering:
        editions = tuple(self.editions.stored())
        base = self.settings.base_url
        updated = editions[0].created_at if editions else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        site = render_site(editions, base, self.env, self.settings.feeds_max_entries, pages=False)
        feeds = {path: Document.of(body, _newest(path, editions, updated), content_type(path))
                 for path, body in site.items()}
        return Rendering(fingerprint, editions, feeds, site_context(editions, base))


def _newest(path: str, editions: tuple[Edition, ...], updated: dt.datetime) -> dt.datetime:
    """A topic feed changes only when its topic does: its Last-Modified is its newest edition."""
    if path.startswith("topics/"):
        slug = path.removeprefix("topics/").removesuffix(".xml")
        for edition in editions:
            if any(s.slug == slug for s in edition.sections):
                return edition.created_at
    return updated


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def not_modified(request: Request, document: Document, etag: str) -> bool:
    """RFC 9110: If-None-Match, when sent, decides alone; else If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or etag in tags or document.etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            return False
        return document.last_modified <= when
    return False


def serve(request: Request, document: Document) -> Response:
    """The document, gzipped when the client accepts it, or 304 when it has it already."""
    gzipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = document.etag[:-1] + '-gz"' if gzipped else document.etag
    headers = {"ETag": etag, "Last-Modified": format_datetime(document.last_modified, usegmt=True),
               "Cache-Control": f"public, max-age={FEEDS_MAX_AGE}", "Vary": "Accept-Encoding"}
    if not_modified(request, document, etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = document.gzipped if gzipped else document.body
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=document.content_type)
    return Response(body, headers=headers, media_type=document.content_type)
