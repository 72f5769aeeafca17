"""A reader's own pages besides the manage form: a card's links from the email ("more like this",
"less like this", "mute topic", "follow author"), the manage page's library upload, their data
to take away and "delete everything about me". The card links carry the reader's signed token
(:meth:`bot.subscribers.Signer.sign_card`), so no login is needed; as with unsubscribe, a GET
only shows a button (mail scanners open links) and the POST acts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message

from bot.errors import AddressError, SourceError
from bot.models import EditionPaper
from bot.render import clean
from bot.services.readers import MAX_LIBRARY_BYTES as MAX_BYTES
from bot.subscribers import manage_link

if TYPE_CHECKING:
    from bot.web import Web

log = logging.getLogger("paperboy")
BAD_LINK = ("This link is not valid", ("It may have been cut short by your mail program: try copying the whole "
                                       "link from the email. Nothing was changed."))
ACTIONS = ("more", "less", "mute", "follow")
ASKED = {"more": ("More like this?", "Papers like this one will come first in your digest, and the closest will be "
                                     "picked for you from any topic.", "More like this"),
         "less": ("Less like this?", "Papers like this one will come last in your digest and never be picked "
                                     "for you.", "Less like this")}


class ReaderPages:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.readers = web.paperboy.readers

    def _base(self, signed: str, anchor: str) -> str:
        return f"{self.web.settings.base_url}f/{signed}/{anchor}"

    async def act(self, request: Request) -> Response:
        signed, anchor = request.path_params["signed"], request.path_params["anchor"]
        action = request.path_params.get("action")
        token = self.web.signer.verify_card(signed)
        subscriber = self.web.subscriptions.find(token) if token else None
        paper = self.readers.paper(anchor) if subscriber is not None else None
        if subscriber is None or token is None:
            return self.web._message("This link is not valid", "It may have been cut short by your mail program, "
                                     "or you deleted your subscription. Nothing was changed.", 400)
        if paper is None:
            return self.web._message("Not found", "This paper is no longer in paperboy's recent editions. "
                                     "Nothing was changed.", 404)
        title = clean(paper.title)
        if action is None:
            return self.web._message(title, "Tell paperboy what you think of this paper; your next digest follows it.",
                                     links=[(text, f"{self._base(signed, anchor)}/{a}") for a, text in (
                                         ("more", "More like this"), ("less", "Less like this"),
                                         ("mute", "Mute its topic"), ("follow", "Follow its authors"))])
        if action not in ACTIONS:
            return self.web._message("Not found", "There is no such page.", 404)
        if request.method == "GET":
            return self._ask(paper, action, self._base(signed, anchor) + f"/{action}")
        form = await self.web._form(request) or {}
        return self._done(token, paper, action, form)

    def _ask(self, paper: EditionPaper, action: str, url: str) -> Response:
        title = clean(paper.title)
        if action in ASKED:
            heading, message, button = ASKED[action]
            return self.web._message(heading, f"\u201c{title}\u201d. {message}", action=url, button=button)
        if action == "mute":
            if not paper.topic_slug:
                return self.web._message("No topic", f"\u201c{title}\u201d has no topic to mute.", 404)
            label = clean(paper.topic_label or paper.topic_slug)
            return self.web._message(f"Mute \u201c{label}\u201d?", "No paper of this topic will be in your digest "
                                     "again. You can follow it again from your preferences.", action=url,
                                     button="Mute this topic", danger=True)
        names = _names(paper)
        if not names:
            return self.web._message("No authors", f"paperboy knows no author of \u201c{title}\u201d yet.", 404)
        return self.web._message("Follow whom?", f"Papers by the ones you choose come first in your digest, "
                                 f"whatever their topic. From \u201c{title}\u201d:", action=url, button="Follow",
                                 choices=[("name", name, name) for name in names])

    def _done(self, token: str, paper: EditionPaper, action: str, form: dict[str, Any]) -> Response:
        title = clean(paper.title)
        if action in ASKED:
            self.readers.rate(token, paper, action)
            done = f"Your next digest will have {action} papers like \u201c{title}\u201d."
        elif action == "mute":
            if not paper.topic_slug:
                return self.web._message("No topic", f"\u201c{title}\u201d has no topic to mute.", 404)
            self.readers.mute_topic(token, paper.topic_slug)
            done = f"\u201c{clean(paper.topic_label or paper.topic_slug)}\u201d is muted."
        else:
            allowed = set(_names(paper))
            chosen = [n for n in form.get("name", []) if n in allowed]
            try:
                self.readers.follow(token, chosen)
            except AddressError as exc:
                return self.web._message("Check your choice", str(exc), 400)
            done = f"You follow {', '.join(chosen)}."
        log.info("web: a reader's card action: %s", action)
        return self.web._message("Done", done, links=[("Your preferences", self.web.subscriptions.manage_link(token))])

    async def library(self, request: Request) -> Response:
        """The manage page's "bring your own library": pasted ids or links, or a reference file."""
        too_large = self.web._message("Too large", "That file is over 2 MB; export fewer references.", 413)
        try:
            if int(request.headers.get("content-length") or 0) > LIBRARY_BODY:
                return too_large
            form = await _bounded(request, LIBRARY_BODY).form(max_files=1, max_fields=10, max_part_size=MAX_BYTES)
        except _TooLarge:
            return too_large
        except (ValueError, MultiPartException, HTTPException):
            return self.web._message("Bad request", "That form could not be read.", 400)
        signed = str(form.get("token") or "")
        token = self.web.signer.verify(signed, "manage")
        if token is None or self.web.subscriptions.find(token) is None:
            return self.web._message("This link is not valid", "Nothing was changed.", 400)
        upload, pasted = form.get("file"), str(form.get("ids") or "")
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                name, data = upload.filename[:100], await upload.read(MAX_BYTES + 1)
            elif pasted.strip():
                name, data = "the pasted text", pasted.encode()
            else:
                raise SourceError("the form", "paste arXiv ids or links, or choose a file")
            seeded = self.readers.seed_file(token, name, data)
        except SourceError as exc:
            return self.web._message("Nothing was read", str(exc), 400, links=[("Back", self._manage(signed))])
        if seeded is None:
            return self.web._message("This link is not valid", "Nothing was changed.", 400)
        parts = [f"{seeded.from_store} paper{'s' if seeded.from_store != 1 else ''} paperboy knows",
                 f"{seeded.from_file} read from the file"]
        unknown = (f" {len(seeded.unknown)} arXiv id{'s' if len(seeded.unknown) != 1 else ''} paperboy has not "
                   f"seen and the file does not describe were left out: {', '.join(seeded.unknown[:10])}"
                   f"{'…' if len(seeded.unknown) > 10 else ''}.") if seeded.unknown else ""
        log.info("web: a reader brought their library (%d known, %d from the file, %d unknown)",
                 seeded.from_store, seeded.from_file, len(seeded.unknown))
        return self.web._message("Your library is in", f"Your digest now ranks papers by {' and '.join(parts)}."
                                 f"{unknown} Nothing left this server.", links=[("Back", self._manage(signed))])

    def data_link(self, signed: str) -> str:
        return f"{self.web.settings.base_url}manage/data?token={quote(signed)}"

    def forget(self, token: str, address: str, signed: str, *, confirmed: bool) -> Response:
        """"Delete everything about me": asked once more, then done; nothing is kept but the
        lines the log had already written (which name no address)."""
        if not confirmed:
            return self.web._message(
                "Delete everything about you?",
                f"paperboy will forget {address}: the subscription, your choices and the record of every "
                "digest sent to you. This cannot be undone; to read the digest again, subscribe again.",
                action=f"{self.web.settings.base_url}manage",
                fields=[("token", signed), ("action", "forget-confirmed")],
                button="Delete everything", danger=True, links=[("Download your data first", self.data_link(signed))])
        forgotten = self.web.subscriptions.forget(token)
        if forgotten is None:
            return self.web._message(*BAD_LINK, status=400)
        log.info("web: a reader deleted everything about them")
        return self.web._message("Deleted", f"paperboy no longer knows {forgotten}; no digest will be sent to it.",
                             links=[("paperboy", self.web.settings.base_url)])

    async def data(self, request: Request) -> Response:
        """What paperboy stores about the reader, as a JSON download (the manage link's token)."""
        token = self.web.signer.verify(request.query_params.get("token", ""), "manage")
        data = self.web.subscriptions.data(token) if token else None
        if data is None:
            return self.web._message(*BAD_LINK, status=400)
        return JSONResponse(data, headers={"Cache-Control": "no-store",
                                           "Content-Disposition": 'attachment; filename="paperboy-my-data.json"'})

    def _manage(self, signed: str) -> str:
        return manage_link(self.web.settings.base_url, signed)


LIBRARY_BODY = MAX_BYTES + 64 * 1024
"""A library upload's whole body: the file and the form around it."""


class _TooLarge(Exception):
    pass


def _bounded(request: Request, limit: int) -> Request:
    """The request with a body that stops at ``limit`` bytes, whatever its Content-Length says
    (a chunked upload has none), before any of it is spooled to disk."""
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge
        return message

    return Request(request.scope, receive)


def _names(paper: EditionPaper) -> list[str]:
    """Whom a card offers to follow: its authors, organisation and submitter, each once."""
    names = [*paper.authors, paper.organization or "", paper.links.submitted_by or ""]
    return list(dict.fromkeys(clean(n) for n in names if n and n.strip()))[:30]
