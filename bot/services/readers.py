"""What a reader teaches paperboy about themselves: "more / less like this", "mute this topic"
and "follow this author" from a card's links, and their own library from the manage page.
Each verdict is stored and the reader's profile rebuilt from all of theirs in the same
transaction, so that the next copy ranks by it and nothing is computed at send time."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.digest.ranking import paper_text, profile_of
from bot.errors import AddressError
from bot.models import EditionPaper
from bot.models.readers import Preferences, Subscriber, Verdict
from bot.sources.library import MAX_BYTES as MAX_LIBRARY_BYTES
from bot.sources.library import LibraryEntry, read_library
from bot.store import Database
from bot.store import editions as edition_store
from bot.store import subscribers as subscriber_store
from bot.store import verdicts as verdict_store
from bot.subscribers import SLUG, parse_list

__all__ = ["MAX_LIBRARY_BYTES", "Readers", "Seeded"]
SIGNS = {"more": 1, "less": -1}
ANCHOR = re.compile(r"^[0-9a-f]{10}$")


@dataclass(frozen=True, slots=True)
class Seeded:
    """What a library did: papers read from the store (which has their abstracts), entries read
    from the file itself, and arXiv ids that neither knows (nothing is fetched for them)."""

    from_store: int
    from_file: int
    unknown: tuple[str, ...]


class Readers:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database, self._now = database, clock

    def paper(self, anchor: str) -> EditionPaper | None:
        """A paper an edition showed, as its card's links name it (ten hex digits)."""
        if not ANCHOR.match(anchor):
            return None
        with self._database.read() as session:
            return edition_store.paper_by_anchor(session, anchor)

    def rate(self, token: str, paper: EditionPaper, how: str) -> Subscriber | None:
        """"more" or "less" like ``paper``; the same click twice changes nothing more, the other
        one replaces it."""
        with self._database.write() as session:
            reader = verdict_store.subscriber_id(session, token)
            if reader is None:
                return None
            verdict = Verdict(paper.key, paper.title, paper_text(paper.title, paper.abstract), SIGNS[how])
            verdict_store.record(session, reader, [verdict], self._now())
            return self._relearn(session, reader, token)

    def verdicts(self, token: str) -> list[Verdict]:
        """What the reader rated or brought, newest first."""
        with self._database.read() as session:
            reader = verdict_store.subscriber_id(session, token)
            return verdict_store.of_reader(session, reader) if reader is not None else []

    def unrate(self, token: str, key: str) -> bool:
        """One verdict taken back (the profile relearnt without it); False when there was none."""
        with self._database.write() as session:
            reader = verdict_store.subscriber_id(session, token)
            if reader is None or not verdict_store.forget_one(session, reader, key):
                return False
            self._relearn(session, reader, token)
            return True

    def mute_topic(self, token: str, slug: str) -> Subscriber | None:
        """The topic muted (and no longer followed)."""
        if not SLUG.match(slug):
            raise AddressError(f"{slug[:40]!r} is not a topic")
        return self._change(token, lambda p: replace(
            p, follow=tuple(s for s in p.follow if s != slug), mute=tuple(dict.fromkeys((*p.mute, slug)))))

    def follow(self, token: str, names: Sequence[str]) -> Subscriber | None:
        """Authors or organisations followed (and no longer muted)."""
        chosen = parse_list(list(names), "name")
        if not chosen:
            raise AddressError("choose at least one name to follow")
        folded = {n.casefold() for n in chosen}
        return self._change(token, lambda p: replace(
            p, people=tuple(dict.fromkeys((*p.people, *chosen))),
            mute_people=tuple(n for n in p.mute_people if n.casefold() not in folded)))

    def seed_file(self, token: str, name: str, data: bytes) -> Seeded | None:
        """:meth:`seed` from an uploaded file or pasted text named ``name`` (SourceError, naming
        it, when nothing in it can be read)."""
        return self.seed(token, read_library(name, data))

    def seed(self, token: str, entries: Sequence[LibraryEntry]) -> Seeded | None:
        """A reader's library as papers they like: a paper the store knows is read from it (its
        abstract), any other from what the file gives (a title at least); an arXiv id alone
        that the store does not know is reported, never looked up elsewhere."""
        with self._database.write() as session:
            reader = verdict_store.subscriber_id(session, token)
            if reader is None:
                return None
            ids = [e.arxiv_id for e in entries if e.arxiv_id]
            known = edition_store.known_papers(session, ids)
            given: dict[str, Verdict] = {}
            unknown: list[str] = []
            from_store = from_file = 0
            for entry in entries:
                if entry.arxiv_id and entry.arxiv_id in known:
                    key, title, abstract = known[entry.arxiv_id]
                    from_store += key not in given
                elif entry.title.strip():
                    key, title, abstract = (f"arxiv:{entry.arxiv_id}" if entry.arxiv_id
                                            else f"title:{entry.title.strip().casefold()[:200]}",
                                            entry.title.strip(), entry.abstract)
                    from_file += key not in given
                else:
                    unknown.append(entry.arxiv_id or "")
                    continue
                given[key] = Verdict(key, title[:500], paper_text(title, abstract)[:20_000], 1, "library")
            if given:
                verdict_store.record(session, reader, list(given.values()), self._now())
                self._relearn(session, reader, token)
            return Seeded(from_store, from_file, tuple(unknown))

    def _relearn(self, session: Session, reader: int, token: str) -> Subscriber | None:
        verdict_store.set_profile(session, reader, profile_of(verdict_store.of_reader(session, reader)), self._now())
        return subscriber_store.find_by_token(session, token)

    def _change(self, token: str, change: Callable[[Preferences], Preferences]) -> Subscriber | None:
        with self._database.write() as session:
            found = subscriber_store.find_by_token(session, token)
            if found is None:
                return None
            return subscriber_store.set_preferences(session, token, change(found.preferences), self._now())
