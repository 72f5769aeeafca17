"""Subscriptions, every way a reader comes and goes: the operator's add, remove, import and export,
and the reader's own subscribe, confirm, unsubscribe, resubscribe and preferences from the web.
One place holds the rules (who may come back, what a confirmation mail says), so the CLI and the
web only parse input and show the outcome."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.errors import AddressError, PaperboyError
from bot.models.readers import Preferences, Subscriber
from bot.settings import Settings
from bot.store import Database
from bot.store import notices as notice_store
from bot.store import subscribers as store
from bot.store.subscribers import Upsert
from bot.subscribers import WEEKDAYS, CsvProblem, Signer, csv_cell, manage_link, normalise_address, read_csv

EXPORT_COLUMNS = ["email", "status", "follow", "mute", "include", "exclude", "people", "mute_people", "searches",
                  "cadence",
                  "weekday", "send_at", "time_zone", "created", "confirmed"]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: counts by outcome (added, updated, unchanged, kept) and the bad rows."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: tuple[CsvProblem, ...] = ()


def _exclusive(preferences: Preferences) -> None:
    """A topic, or a person, is followed or muted, never both (which would be read two ways)."""
    both = sorted(set(preferences.follow) & set(preferences.mute))
    if both:
        raise AddressError(f"a topic cannot be followed and muted at once: {', '.join(both)}; "
                           "choose one of the two for it")
    muted = {name.casefold() for name in preferences.mute_people}
    people = sorted(name for name in preferences.people if name.casefold() in muted)
    if people:
        raise AddressError(f"a name cannot be followed and muted at once: {', '.join(people)}; "
                           "choose one of the two for it")


class Subscriptions:
    def __init__(self, database: Database, settings: Settings, signer: Callable[[], Signer], clock: Clock) -> None:
        self._database, self._settings, self._signer, self._now = database, settings, signer, clock

    # The operator ----------------------------------------------------------------------------

    def add(self, email: str, preferences: Preferences) -> Upsert:
        """An active subscriber (the operator vouches for the address); brings back one who left."""
        address = normalise_address(email)
        _exclusive(preferences)
        with self._database.write() as session:
            return store.upsert_subscriber(session, address, preferences, self._now(), reactivate=True)

    def remove(self, email: str, *, purge: bool = False) -> str:
        """Unsubscribed (kept, so that an import cannot add them back) or, with ``purge``, forgotten
        with their delivery history. Returns the normalised address."""
        address = normalise_address(email)
        with self._database.write() as session:
            if purge:
                done = store.purge_subscriber(session, address)
            else:
                done = store.set_status(session, address, "unsubscribed", self._now())
        if not done:
            raise PaperboyError(f"{address}: not a subscriber")
        return address

    def each(self, status: str | None = None) -> Iterator[Subscriber]:
        """Every subscriber by address, streamed from one read transaction."""
        with self._database.read() as session:
            yield from store.iter_subscribers(session, status)

    def import_csv(self, path: Path) -> ImportReport:
        """Idempotent: a known address gets the file's preferences; one that unsubscribed or bounced
        stays so. Bad rows are reported by line and the good ones are imported."""
        counts = {"added": 0, "updated": 0, "unchanged": 0, "kept": 0}
        problems: list[CsvProblem] = []
        now = self._now()
        with self._database.write() as session:
            for row in read_csv(path):
                if isinstance(row, CsvProblem):
                    problems.append(row)
                    continue
                try:
                    _exclusive(row.preferences)
                except AddressError as exc:
                    problems.append(CsvProblem(row.line, f"{row.address}: {exc}"))
                    continue
                counts[store.upsert_subscriber(session, row.address, row.preferences, now).outcome] += 1
        return ImportReport(counts, tuple(problems))

    def export_csv(self, handle: TextIO, status: str | None = None) -> None:
        """Every subscriber as CSV; the file imports back as it is. No cell starts a formula in a
        spreadsheet (see :func:`bot.subscribers.csv_cell`)."""
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for s in self.each(status):
            p = s.preferences
            writer.writerow([csv_cell(cell) for cell in (
                s.address, s.status, ",".join(p.follow), ",".join(p.mute), ",".join(p.include), ",".join(p.exclude),
                ",".join(p.people), ",".join(p.mute_people), ",".join(p.searches), p.cadence,
                WEEKDAYS[p.weekday] if p.cadence == "weekly" else "", p.send_at or "", p.time_zone or "",
                s.created_at.isoformat(), s.confirmed_at.isoformat() if s.confirmed_at else "")])

    # The reader, from the web ----------------------------------------------------------------

    def ask_to_confirm(self, address: str, wanted: Preferences, confirm_link: Callable[[str], str],
                       within: Callable[[Session], str | None] | None = None) -> str | None:
        """A subscribe request: a new or former address becomes pending and is mailed a confirmation
        link (``wanted``: the topics and how often they chose); an active one gets a note with its
        manage link instead, and is left as it is. The mail is queued in the
        same transaction (the notices worker sends it), and the caller answers the same whatever
        happens here, so nothing tells whether an address is known. ``within`` counts the
        request against its rate limits first, in that transaction: what it returns (the limit
        that refused) stops the request, and is returned."""
        with self._database.write(durable=False) as session:  # a lost request is asked again
            refused = within(session) if within is not None else None
            if refused is not None:
                return refused
            result = store.request_subscription(session, address, wanted, self._now())
            if result.outcome == "kept":
                manage = manage_link(self._settings.base_url, self._signer().sign(result.subscriber.token, "manage"))
                notice_store.queue(session, address, "You are subscribed to paperboy already", (
                    "Someone, probably you, asked to subscribe this address to paperboy's daily digest.\n"
                    "It is subscribed already. To choose your topics or unsubscribe:\n\n"
                    f"  {manage}\n\nIf it was not you, you can ignore this message.\n"), self._now())
                return None
            link = confirm_link(result.subscriber.token)
            notice_store.queue(session, address, "Confirm your subscription to paperboy", (
                "Someone, probably you, asked to subscribe this address to paperboy, a daily digest of\n"
                "trending research papers. To confirm, open this link and press the button:\n\n"
                f"  {link}\n\nThe link works for three days. If it was not you, ignore this message:\n"
                "nothing will be sent to you.\n"), self._now())
        return None

    def find(self, token: str) -> Subscriber | None:
        with self._database.read() as session:
            return store.find_by_token(session, token)

    def confirm(self, token: str) -> Subscriber | None:
        with self._database.write() as session:
            return store.confirm(session, token, self._now())

    def unsubscribe(self, token: str) -> Subscriber | None:
        with self._database.write() as session:
            return store.unsubscribe(session, token, self._now())

    def resubscribe(self, token: str) -> Subscriber | None:
        with self._database.write() as session:
            return store.resubscribe(session, token, self._now())

    def set_preferences(self, token: str, preferences: Preferences) -> Subscriber | None:
        """The reader's own choices; a topic followed and muted at once is refused (AddressError)
        and nothing is stored."""
        _exclusive(preferences)
        with self._database.write() as session:
            return store.set_preferences(session, token, preferences, self._now())

    def data(self, token: str) -> dict[str, Any] | None:
        """Everything stored about the reader, for them to take away (JSON-ready)."""
        with self._database.read() as session:
            return store.reader_data(session, token)

    def forget(self, token: str) -> str | None:
        """Delete everything about the reader (their subscription, the record of every copy sent
        to them, mail to them still queued); their address, or None when nothing was known."""
        with self._database.write() as session:
            return store.forget(session, token)

    def manage_link(self, token: str) -> str:
        return manage_link(self._settings.base_url, self._signer().sign(token, "manage"))
