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
import functools
import gzip
import hashlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.models import Edition, Periodic
from bot.render.feeds import content_type, feed_limits, render_site
from bot.render.pages import site_context
from bot.services.editions import Editions
from bot.settings import Settings

RECHECK_SECONDS = 1.0
FEEDS_MAX_AGE = 300
# RSS and Atom name a stylesheet (feed.xsl) that a browser applies to show a readable page;
# browsers check an XSLT stylesheet against script-src, which the pages' policy ('none') refuses.
XML_CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
           "base-uri 'none'")
# Chromium shows application/rss+xml and atom+xml as text and never applies their stylesheet:
# a browser (it asks for text/html) gets the same bytes as application/xml; readers get the feed types.
BROWSER_XML = "application/xml; charset=utf-8"


def for_browser(accept: str) -> bool:
    return "text/html" in accept


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

    def etag_for(self, gzipped: bool) -> str:
        """Each encoding has its own validator."""
        return self.etag[:-1] + '-gz"' if gzipped else self.etag

    def headers(self, gzipped: bool) -> dict[str, str]:
        headers = {"ETag": self.etag_for(gzipped),
                   "Last-Modified": _http_date(self.last_modified),
                   "Cache-Control": f"public, max-age={FEEDS_MAX_AGE}", "Vary": "Accept-Encoding"}
        if self.styled:
            headers["Content-Security-Policy"] = XML_CSP
            headers["Vary"] = "Accept, Accept-Encoding"
        return headers

    @property
    def styled(self) -> bool:
        """A feed that names the stylesheet (RSS and Atom, not the stylesheet itself)."""
        return "+xml" in self.content_type

    def media_type(self, browser: bool) -> str:
        return BROWSER_XML if browser and self.styled else self.content_type


@dataclass(frozen=True, slots=True)
class Rendering:
    fingerprint: tuple[object, ...]
    editions: tuple[Edition, ...]
    feeds: dict[str, Document]
    context: dict[str, object]
    aliases: dict[str, str] = field(default_factory=dict)
    """A merged topic's slug and the topic it went into: its feed redirects there."""
    periodic: Periodic = field(default_factory=Periodic)
    """The weekly and monthly digests' copies, newest first (their pages and feeds)."""


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
        aliases = self.editions.aliases()
        base = self.settings.base_url
        updated = editions[0].created_at if editions else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        periodic = self.editions.periodic(editions)
        site = render_site(editions, base, self.env, feed_limits(self.settings), pages=False, aliases=aliases,
                           periodic=periodic)
        feeds = {path: Document.of(body, _newest(path, editions, updated, aliases), content_type(path))
                 for path, body in site.items()}
        return Rendering(fingerprint, editions, feeds, site_context(editions, base), aliases, periodic)


def _newest(path: str, editions: tuple[Edition, ...], updated: dt.datetime,
            aliases: dict[str, str]) -> dt.datetime:
    """A topic feed changes only when its topic does: its Last-Modified is its newest edition."""
    if path.startswith("topics/"):
        slug = path.removeprefix("topics/").removesuffix(".xml")
        for edition in editions:
            if any(aliases.get(s.slug, s.slug) == slug for s in edition.sections):
                return edition.created_at
    return updated


@functools.lru_cache(maxsize=256)
def _http_date(moment: dt.datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def not_modified(request: Request, document: Document, etag: str) -> bool:
    return _not_modified(request.headers.get("if-none-match"), request.headers.get("if-modified-since"),
                         document, etag)


def _not_modified(if_none_match: str | None, since: str | None, document: Document, etag: str) -> bool:
    """RFC 9110: If-None-Match, when sent, decides alone; else If-Modified-Since."""
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or etag in tags or document.etag in tags
    if since:
        if since == _http_date(document.last_modified):  # what readers send back: no date to parse
            return True
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
    media_type = document.media_type(for_browser(request.headers.get("accept", "")))
    headers = document.headers(gzipped)
    etag = headers["ETag"]
    if not_modified(request, document, etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = document.gzipped if gzipped else document.body
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


SUMMARY_SECONDS = 60.0


class Polls:
    """The feed polls :class:`FeedFront` answered, summed up in one log line at most every
    :data:`SUMMARY_SECONDS` and when the server stops."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._counts: Counter[tuple[str, int]] = Counter()
        self._since = time.monotonic()

    def add(self, path: str, status: int, now: float) -> None:
        self._counts[path, status] += 1
        if now - self._since >= SUMMARY_SECONDS:
            self.sum_up(now)

    def sum_up(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        counts, self._counts, since, self._since = self._counts, Counter(), self._since, now
        if not counts:
            return
        feeds: Counter[str] = Counter()
        for (path, _), n in counts.items():
            feeds[path] += n
        self.log.info("feeds: %d polls in %.0f s, %d not modified (%s)", sum(counts.values()), now - since,
                      sum(n for (_, status), n in counts.items() if status == 304),
                      ", ".join(f"{path} {n}" for path, n in feeds.most_common(5)))


class FeedFront:
    """ASGI middleware that answers GET and HEAD of a cached feed itself, in raw ASGI messages
    with headers made once per rendering: the feed readers' polls (mostly 304s) skip the
    routing, the Request object, the middleware stack and its per-request closures, which were
    most of their cost. Everything else goes on to the app. The answer is the one the app's
    own route gives (tests compare them), with the security headers.

    Feed polls are counted, not logged one by one: a line per poll (formatting a log record and
    writing it to standard error) halved the rate a process answers them at. One INFO line sums
    them up at most every :data:`SUMMARY_SECONDS` (how many, how many not modified, per feed);
    at DEBUG (``-vv``) each poll gets its own line as well."""

    def __init__(self, app: ASGIApp, site: Site, log: logging.Logger, security: list[tuple[bytes, bytes]],
                 polls: Polls) -> None:
        self.app, self.site, self.log, self.security, self.polls = app, site, log, security, polls
        self._answers: dict[tuple[int, str, bool, bool, bool], list[tuple[bytes, bytes]]] = {}
        self._for: Rendering | None = None


    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not scope["path"].endswith(
                (".xml", ".json")):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        rendering = self.site.current()
        path = scope["path"].lstrip("/")
        document = rendering.feeds.get(path)
        if document is None or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        if_none_match = since = None
        gzipped = browser = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"if-modified-since":
                since = value.decode("latin-1")
            elif name == b"accept-encoding":
                gzipped = b"gzip" in value.lower()
            elif name == b"accept":
                browser = b"text/html" in value
        fresh = _not_modified(if_none_match, since, document, document.etag_for(gzipped))
        head = scope["method"] == "HEAD"
        body = b"" if fresh else document.gzipped if gzipped else document.body
        await send({"type": "http.response.start", "status": 304 if fresh else 200,
                    "headers": self._headers(rendering, path, document, gzipped, fresh, browser)})
        await send({"type": "http.response.body", "body": b"" if head else body})
        status = 304 if fresh else 200
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("%s %s %d %.0f ms", scope["method"], path[:200], status,
                           (time.monotonic() - started) * 1000)
        self.polls.add(path, status, started)

    def _headers(self, rendering: Rendering, path: str, document: Document, gzipped: bool,
                 fresh: bool, browser: bool) -> list[tuple[bytes, bytes]]:
        if self._for is not rendering:
            self._answers, self._for = {}, rendering
        key = (id(document), path, gzipped, fresh, browser)
        headers = self._answers.get(key)
        if headers is None:
            values = document.headers(gzipped)
            if not fresh:
                values["Content-Type"] = document.media_type(browser)
                values["Content-Length"] = str(len(document.gzipped if gzipped else document.body))
                if gzipped:
                    values["Content-Encoding"] = "gzip"
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in values.items()]
            names = {name for name, _ in headers}
            headers += [h for h in self.security if h[0] not in names]
            self._answers[key] = headers
        return headers
