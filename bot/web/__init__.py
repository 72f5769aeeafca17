"""The web front (Starlette): feeds and archive over HTTP, subscribe with double opt-in,
one-click unsubscribe, topic preferences. A thin shell: pages come from the archive templates,
feeds from the render stage, subscribers from the store.

No GET changes anything (mail scanners open links): a confirmation or unsubscribe link shows a
page whose button POSTs. The one exception to the CSRF check is the RFC 8058 one-click POST,
which a mail client sends with no cookie; its signed token is the authority.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.app import Paperboy
from bot.errors import AddressError, ConfigError, PaperboyError, StoreError
from bot.models.readers import Preferences
from bot.render.feeds import content_type, edition_bibtex
from bot.render.pages import topic_choices
from bot.services.service import problem
from bot.settings import Settings
from bot.subscribers import (
    WEEKDAYS,
    Signer,
    form_preferences,
    mailbox_key,
    manage_link,
    normalise_address,
    zone_names,
)
from bot.web.guard import CSRF_COOKIE, HEADERS, ConfirmLinks, Csrf, Guard, client_key
from bot.web.reader import BAD_LINK, ReaderPages
from bot.web.search import SearchPages
from bot.web.site import FeedFront, Polls, Site, serve

if TYPE_CHECKING:
    from bot.store import Database

log = logging.getLogger("paperboy")
access_log = logging.getLogger("paperboy.web.access")
PER_CLIENT = (20, 3600)   # subscribe requests per client address (IPv6: per /64) per hour
PER_MAILBOX = (3, 3600)   # confirmation mails per mailbox (bucket+tag@, b.u.c.k.e.t@gmail) per hour
MAX_FORM_BYTES = 16 * 1024
SHOWN_VERDICTS = 20  # the newest papers a reader rated, listed on their page to take back
SENT = ("Check your inbox", ("If this address can subscribe, a message with a confirmation link is on its way "
                             "to it. Nothing is sent until you click it. The link works for three days."))


class Web:
    def __init__(self, paperboy: Paperboy) -> None:
        settings = paperboy.settings
        if not settings.secret_key:
            raise ConfigError("secret_key", "PAPERBOY_SECRET_KEY must be set for the web front: its links must "
                                            "outlive the process (make one with: python3 -c 'import secrets; "
                                            "print(secrets.token_urlsafe(32))')", "the environment")
        self.paperboy, self.settings = paperboy, settings
        self.env = paperboy.templates
        self.site = Site(paperboy.editions, settings, self.env)
        self.polls = Polls(access_log)
        self.signer: Signer = paperboy.signer
        self.subscriptions = paperboy.subscriptions
        self.confirm_links = ConfirmLinks(settings.secret_key)
        self.csrf = Csrf(settings.secret_key)
        self.limits = paperboy.limits
        self.notices = paperboy.notices
        self.secure_cookie = settings.base_url.startswith("https://")
        self.reader = ReaderPages(self)
        self.search = SearchPages(self)

    # Pages ------------------------------------------------------------------------------

    def _page(self, template: str, status: int = 200, cookie: str | None = None, **context: Any) -> HTMLResponse:
        rendering = self.site.current()
        body = self.env.get_template(template).render({**rendering.context, **context})
        response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
        if cookie:
            response.set_cookie(CSRF_COOKIE, cookie, max_age=7 * 24 * 3600, httponly=True, samesite="lax",
                                secure=self.secure_cookie)
        return response

    def _message(self, title: str, message: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self._page("web/page.html", status, **{"title": title, "message": message, "action": None,
                                                      "fields": [], "button": "", "links": [], "danger": False,
                                                      "choices": [],
                                                      **context})

    def _with_form(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None if cookie else Csrf.new_cookie()
        return self._page(template, cookie=fresh, csrf=self.csrf.field_for(cookie or fresh or ""), **context)

    async def home(self, request: Request) -> Response:
        editions = self.site.current().editions
        return self._with_form(request, "web/home.html", edition=editions[0] if editions else None)

    async def archive(self, request: Request) -> Response:
        return self._page("archive/index.html")

    async def edition(self, request: Request) -> Response:
        name = request.path_params["date"]
        bib = name.endswith(".bib")
        try:
            date = dt.date.fromisoformat(name.removesuffix(".bib") if bib else name.removesuffix(".html"))
        except ValueError:
            return self._message("Not found", "There is no such edition.", 404)
        for edition in self.site.current().editions:
            if edition.date == date:
                if bib:
                    return Response(edition_bibtex(edition), media_type=content_type("x.bib"))
                return self._with_form(request, "archive/edition.html", edition=edition)
        return self._message("Not found", f"There is no edition for {date}.", 404)

    async def period(self, request: Request) -> Response:
        """A week of the weekly digest, by its Monday (/weekly/2026-11-16.html), or a month of
        the monthly one (/monthly/2026-11.html)."""
        kind = request.url.path.strip("/").split("/", 1)[0]
        name = request.path_params["date"].removesuffix(".html")
        try:
            first = dt.date.fromisoformat(name if kind == "weekly" else f"{name}-01")
        except ValueError:
            return self._message("Not found", f"There is no such {'week' if kind == 'weekly' else 'month'}.", 404)
        found = self.site.current().periodic.find(kind, first)
        if found is None:
            return self._message("Not found", f"There is no {kind} digest for {name}.", 404)
        return self._with_form(request, "archive/edition.html", edition=found, period=kind[:-2])

    async def feed(self, request: Request) -> Response:
        path = request.url.path.lstrip("/")
        rendering = self.site.current()
        document = rendering.feeds.get(path)
        if document is None:
            slug = path.removeprefix("topics/").removesuffix(".xml") if path.startswith("topics/") else ""
            if slug in rendering.aliases:  # a merged topic: its readers go where its papers went
                return RedirectResponse(f"{self.settings.base_url}topics/{rendering.aliases[slug]}.xml", 301)
            return self._message("Not found", "There is no such feed.", 404)
        return serve(request, document)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """A path that differs from a route by its trailing slash is redirected, relatively (never
        to a host taken from the request); anything else is a plain 404 page."""
        path = request.url.path
        other = path.rstrip("/") if path.endswith("/") and path != "/" else path + "/"
        scope = {**request.scope, "path": other}
        if any(route.matches(scope)[0] != Match.NONE for route in request.app.routes):
            last = path.rstrip("/").rsplit("/", 1)[-1]
            target = f"{last}/" if other.endswith("/") else f"../{last}"
            query = request.url.query
            return Response(status_code=308, headers={"Location": target + (f"?{query}" if query else "")})
        return self._message("Not found", "There is no such page.", 404)

    async def failed(self, request: Request, exc: Exception) -> Response:
        """The one error handler: what a request could not do becomes a page, never a traceback.
        Bad input is the reader's to fix (400); a database that cannot be reached, and anything
        else, is ours (503 and 500), logged with its cause."""
        if isinstance(exc, AddressError):
            return self._message("Check your input", str(exc), 400)
        if isinstance(exc, (StoreError, SQLAlchemyError)):
            log.error("web: %s %s: database unavailable: %s", request.method, request.url.path, problem(exc))
            return self._plain(503, "The service is unavailable for a moment; please try again shortly.")
        log.error("web: %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc,
                  exc_info=not isinstance(exc, PaperboyError))
        return self._plain(500, "Something went wrong on our side; nothing was changed. Please try again later.")

    @staticmethod
    def _plain(status: int, text: str) -> Response:
        """Without the site's templates, which may be what failed (they read the editions)."""
        return HTMLResponse(f"<!DOCTYPE html><title>paperboy</title><p>{text}</p>", status_code=status,
                            headers={"Cache-Control": "no-store", "Retry-After": "30"} if status == 503 else
                            {"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """The notices worker runs while the app serves; the feed polls are summed up at the end."""
        self.notices.start()
        try:
            yield
        finally:
            self.polls.sum_up()
            await run_in_threadpool(self.notices.stop)

    async def healthz(self, request: Request) -> Response:
        verdict = self.paperboy.running.health()
        return JSONResponse(verdict.public_json(), status_code=200 if verdict.verdict in ("ok", "empty") else 503,
                            headers={"Cache-Control": "no-store"})

    # Subscribing ------------------------------------------------------------------------

    async def _form(self, request: Request) -> dict[str, Any] | None:
        """The form's fields as lists; None when it is too large or cannot be parsed."""
        try:
            if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
                return None
            form = await request.form(max_files=0, max_fields=200)
        except (ValueError, MultiPartException, HTTPException):
            return None
        return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}

    async def subscribe(self, request: Request) -> Response:
        form = await self._form(request)
        if form is None:
            return self._message("Bad request", "That form was too large or could not be read.", 400)
        field = (form.get("csrf") or [""])[0]
        if not self.csrf.valid(request.cookies.get(CSRF_COOKIE), field):
            return self._message("Please try again", "The form had expired or did not come from this site. "
                                 "Reload the page and submit it again.", 403,
                                 links=[("Back to the form", self.settings.base_url + "#subscribe")])
        client = ("client", client_key(request.client.host if request.client else None), *PER_CLIENT)
        try:
            address = normalise_address((form.get("email") or [""])[0])
            wanted = form_preferences(form)
        except AddressError as exc:
            if not await run_in_threadpool(self.limits.allow, *client):
                return self._too_many()
            return self._message("Check the address", str(exc), 400,
                                 links=[("Back to the form", self.settings.base_url + "#subscribe")])
        refused = await run_in_threadpool(self._ask_to_confirm, client, address, wanted)
        if refused == "client":
            return self._too_many()
        if refused is None:
            self.notices.poke()
        return self._message(*SENT)

    def _too_many(self) -> Response:
        return self._message("Too many requests", "Too many subscriptions from here; try again in an hour.", 429)

    def _ask_to_confirm(self, client: tuple[str, str, int, int], address: str, wanted: Preferences) -> str | None:
        """Within the client's and the mailbox's limits, the subscription recorded and its mail
        queued, all in one transaction (the notices worker sends the mail): the request waits
        for the database, never for a mail server. Returns the limit that refused."""
        hits = [client, ("mailbox", mailbox_key(address), *PER_MAILBOX)]
        return self.subscriptions.ask_to_confirm(address, wanted, self._confirm_link,
                                                 within=lambda session: self.limits.count(session, hits))

    def _confirm_link(self, token: str) -> str:
        return f"{self.settings.base_url}confirm?token={self.confirm_links.make(token)}"

    async def confirm(self, request: Request) -> Response:
        if request.method == "POST":
            form = await self._form(request) or {}
            signed = (form.get("token") or [""])[0]
        else:
            signed = request.query_params.get("token", "")
        token, problem = self.confirm_links.read(signed)
        if token is None:
            if problem == "expired":
                return self._message("This link has expired", "Confirmation links work for three days. Subscribe "
                                     "again and use the new link. Nothing was changed.", 400,
                                     links=[("Subscribe", self.settings.base_url + "#subscribe")])
            return self._message(*BAD_LINK, status=400)
        if request.method == "GET":
            return self._message("Confirm your subscription", "Press the button to start receiving the digest.",
                                 action=f"{self.settings.base_url}confirm", fields=[("token", signed)],
                                 button="Confirm")
        subscriber = self.subscriptions.confirm(token)
        if subscriber is None or subscriber.status != "active":
            return self._message(*BAD_LINK, status=400)
        manage = self.subscriptions.manage_link(subscriber.token)
        return self._message("You are subscribed", "The next edition will be in your inbox. Every email has "
                             "links to choose your topics and to unsubscribe.", links=[("Choose your topics", manage)])

    async def unsubscribe(self, request: Request) -> Response:
        signed = request.query_params.get("token", "")
        form: dict[str, Any] = {}
        if request.method == "POST":
            form = await self._form(request) or {}
            signed = signed or (form.get("token") or [""])[0]
        token = self.signer.verify(signed, "unsubscribe")
        if token is None:
            return self._message(*BAD_LINK, status=400)
        if request.method == "GET":
            return self._message("Unsubscribe", "Press the button and no further digest is sent to you.",
                                 action=f"{self.settings.base_url}unsubscribe?token={signed}", fields=[],
                                 button="Unsubscribe", danger=True)
        subscriber = self.subscriptions.unsubscribe(token)
        if subscriber is None:
            return self._message(*BAD_LINK, status=400)
        log.info("web: a subscriber unsubscribed%s",
                 " (one-click)" if form.get("List-Unsubscribe") == ["One-Click"] else "")
        manage = self.subscriptions.manage_link(subscriber.token)
        return self._message("You are unsubscribed", "No further digest will be sent to you.",
                             links=[("Subscribe again", manage)])

    async def manage(self, request: Request) -> Response:
        form: dict[str, Any] = {}
        if request.method == "POST":
            form = await self._form(request) or {}
            signed = (form.get("token") or [""])[0]
        else:
            signed = request.query_params.get("token", "")
        token = self.signer.verify(signed, "manage")
        subscriber = self.subscriptions.find(token) if token else None
        if subscriber is None:
            return self._message(*BAD_LINK, status=400)
        action = (form.get("action") or [""])[0]
        if action in ("forget", "forget-confirmed"):
            return self.reader.forget(subscriber.token, subscriber.address, signed,
                                      confirmed=action == "forget-confirmed")
        if request.method == "POST" and action == "resubscribe":
            subscriber = self.subscriptions.resubscribe(subscriber.token) or subscriber
        if subscriber.status in ("unsubscribed", "bounced"):
            why = ("you unsubscribed" if subscriber.status == "unsubscribed"
                   else "mail to this address kept bouncing")
            return self._message("You are unsubscribed", f"{subscriber.address} gets no digest: {why}. Subscribe "
                                 "again to receive it from the next edition, with the topics you chose before.",
                                 action=f"{self.settings.base_url}manage",
                                 fields=[("token", signed), ("action", "resubscribe")], button="Subscribe again",
                                 links=[("Download your data", self.reader.data_link(signed))])
        message = f"Subscribed as {subscriber.address} ({subscriber.status})."
        if request.method == "POST" and form.get("action") == ["resubscribe"]:
            message = "Subscribed again. The next edition will be in your inbox."
        elif request.method == "POST" and action == "unrate":
            taken = self.paperboy.readers.unrate(subscriber.token, (form.get("paper") or [""])[0])
            message = "Taken back: your digest no longer ranks by that paper." if taken else "Nothing to take back."
            subscriber = self.subscriptions.find(subscriber.token) or subscriber
        elif request.method == "POST":
            try:
                prefs = form_preferences(form)
                subscriber = self.subscriptions.set_preferences(subscriber.token, prefs) or subscriber
            except AddressError as exc:
                return self._message("Check your choices", str(exc), 400,
                                     links=[("Back to your topics", manage_link(self.settings.base_url, signed))])
            message = "Saved. The next edition follows these choices."
        prefs = subscriber.preferences
        return self._page("web/manage.html", token=signed, prefs=prefs, message=message,
                          verdicts=self.paperboy.readers.verdicts(subscriber.token)[:SHOWN_VERDICTS],
                          choices=topic_choices(self.site.current().context, [*prefs.follow, *prefs.mute]),
                          zones=zone_names(), weekdays=WEEKDAYS,
                          default_at=self.settings.schedule_time.strftime("%H:%M"),
                          default_zone=self.settings.schedule_timezone,
                          unsubscribe_token=self.signer.sign(subscriber.token, "unsubscribe"))


def create_app(database: Database, settings: Settings, paperboy: Paperboy | None = None) -> Starlette:
    """The ASGI app over ``paperboy`` (the composition root; built here from the database and
    settings when not given); refuses (ConfigError) without ``PAPERBOY_SECRET_KEY``."""
    web = Web(paperboy or Paperboy(settings, database))
    feeds = ["/feed.xml", "/atom.xml", "/digest.xml", "/weekly.xml", "/monthly.xml", "/feed.json", "/feed.xsl",
             "/feeds.opml", "/topics/{slug}.xml"]
    routes = [
        Route("/", web.home),
        Route("/editions/", web.archive),
        Route("/search", web.search.page),
        Route("/search.xml", web.search.feed, methods=["GET", "HEAD"]),
        Route("/index.html", web.archive),
        Route("/editions/{date}", web.edition),
        Route("/weekly/{date}", web.period),
        Route("/monthly/{date}", web.period),
        *(Route(path, web.feed, methods=["GET", "HEAD"]) for path in feeds),
        Route("/healthz", web.healthz),
        Route("/subscribe", web.subscribe, methods=["POST"]),
        Route("/confirm", web.confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", web.unsubscribe, methods=["GET", "POST"]),
        Route("/manage", web.manage, methods=["GET", "POST"]),
        Route("/manage/data", web.reader.data),
        Route("/manage/library", web.reader.library, methods=["POST"]),
        Route("/f/{signed}/{anchor}", web.reader.act),
        Route("/f/{signed}/{anchor}/{action}", web.reader.act, methods=["GET", "POST"]),
    ]
    middleware = [Middleware(FeedFront, site=web.site, log=access_log, security=HEADERS, polls=web.polls),
                  Middleware(Guard, log=access_log)]
    if settings.web_trusted_proxies:
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.web_trusted_proxies)))
    middleware.append(Middleware(GZipMiddleware, minimum_size=1024))
    app = Starlette(routes=routes, middleware=middleware, lifespan=web.lifespan, exception_handlers={
        404: web.not_found, PaperboyError: web.failed, SQLAlchemyError: web.failed, Exception: web.failed})
    app.router.redirect_slashes = False  # Starlette's redirect is absolute, built from the Host header
    app.state.web = web
    return app
