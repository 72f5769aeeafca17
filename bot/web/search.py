"""The search pages: ``/search?q=`` (every paper seen, the most relevant first, grouped by the
edition each was new in) and ``/search.xml?q=`` (the same words as a feed, newest first)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from bot.models.search import Found, Hit
from bot.render.feeds import content_type
from bot.services.search import MAX_PAGE, PER_PAGE
from bot.web.site import Document, serve

if TYPE_CHECKING:
    from bot.web import Web


class SearchPages:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def page(self, request: Request) -> Response:
        """/search?q=…&page=N: every paper seen, the most relevant first, grouped by the edition
        each was new in, the matched words marked."""
        query = " ".join(request.query_params.get("q", "").split())[:200]
        try:
            page = max(1, min(int(request.query_params.get("page", "1")), MAX_PAGE))
        except ValueError:
            page = 1
        found = self.web.paperboy.search.find(query, page) if query else Found((), 0)
        groups: dict[dt.date | None, list[Hit]] = {}
        for hit in found.hits:
            groups.setdefault(hit.edition, []).append(hit)
        return self.web._page("web/search.html", query=query, page=page, found=found, groups=list(groups.items()),
                          more=page < MAX_PAGE and page * PER_PAGE < found.total)

    async def feed(self, request: Request) -> Response:
        """/search.xml?q=…: a saved search as a feed, with an ETag and Last-Modified as the others."""
        query = " ".join(request.query_params.get("q", "").split())[:200]
        if not query:
            return self.web._message("Not found", "A search feed needs words: /search.xml?q=…", 404)
        body, updated = self.web.paperboy.search.feed(query, self.web.settings.base_url)
        return serve(request, Document.of(body, updated, content_type("search.xml")))
