"""Subscribers from outside: addresses, preferences, CSV lists and signed links.

Everything here is untrusted input made safe before the store sees it: addresses are validated
and normalised by email-validator (syntax only, no DNS, so an offline machine behaves like a
production one), topic slugs and keywords are checked, and a CSV reports each bad row by its
line while the good rows go through.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import email_validator
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous import Signer as ItsdangerousSigner

from bot.errors import AddressError, SourceError
from bot.models.readers import Preferences

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
CSV_COLUMNS = ("email", "follow", "mute", "include", "exclude", "send_at", "time_zone", "people", "mute_people",
               "cadence", "weekday", "searches")
EXPORT_ONLY = ("status", "created", "confirmed")
"""Columns ``subscribers export`` writes for people to read; an import of the file skips them."""
MAX_KEYWORD = 100
MAX_SEARCHES = 20


def normalise_address(raw: str) -> str:
    """The address as it will be stored and mailed: domain lower-cased and IDNA-checked."""
    text = raw.strip()
    if not text:
        raise AddressError("empty address")
    try:
        return email_validator.validate_email(text, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as exc:
        raise AddressError(f"{text!r} is not a valid address: {exc}") from None


def parse_list(raw: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """Comma-separated slugs (``what`` = "topic"), keywords or names of people and organisations
    (``what`` = "name"), checked and de-duplicated."""
    if raw is None:
        return ()
    parts = raw.split(",") if isinstance(raw, str) else [p for item in raw for p in item.split(",")]
    seen: dict[str, None] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if what == "topic":
            part = part.lower()
            if not SLUG.match(part):
                raise AddressError(f"{part!r} is not a topic slug (lower-case letters, digits and hyphens)")
        elif len(part) > MAX_KEYWORD or any(ord(c) < 32 for c in part):
            raise AddressError(f"{part[:40]!r}…: a {what} is one line of at most {MAX_KEYWORD} characters")
        seen.setdefault(part, None)
    return tuple(seen)


def preferences(follow: str | Iterable[str] | None = None, mute: str | Iterable[str] | None = None,
                include: str | None = None,
                exclude: str | None = None, send_at: str | None = None, time_zone: str | None = None,
                people: str | None = None, mute_people: str | None = None, cadence: str | None = None,
                weekday: str | None = None, searches: str | None = None) -> Preferences:
    how_often, day = parse_cadence(cadence, weekday)
    return Preferences(parse_list(follow, "topic"), parse_list(mute, "topic"),
                       parse_list(include, "keyword"), parse_list(exclude, "keyword"),
                       parse_send_at(send_at), parse_time_zone(time_zone),
                       parse_list(people, "name"), parse_list(mute_people, "name"), how_often, day,
                       searches=parse_list(searches, "search")[:MAX_SEARCHES])


def form_preferences(form: Mapping[str, Sequence[str]]) -> Preferences:
    """A web form's choices (each field the list of values posted; a field not posted is empty)
    as preferences, checked as every other way in checks them."""
    def first(name: str) -> str:
        return (form.get(name) or [""])[0]

    return preferences(form.get("follow"), form.get("mute"), first("include"), first("exclude"), first("send_at"),
                       first("time_zone"), first("people"), first("mute_people"), first("cadence"), first("weekday"),
                       first("searches"))


CADENCES = ("daily", "weekdays", "weekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_cadence(raw: str | None, weekday: str | None = None) -> tuple[str, int]:
    """How often a reader gets the digest (empty: daily), and a weekly reader's day (a name,
    its first three letters, or 0 for Monday to 6; empty: Monday)."""
    cadence = (raw or "").strip().lower() or "daily"
    if cadence not in CADENCES:
        raise AddressError(f"cadence: {cadence[:20]!r} is not one of {', '.join(CADENCES)}")
    day = (weekday or "").strip().lower()
    if not day:
        return cadence, 0
    if day.isdigit() and int(day) < 7:
        return cadence, int(day)
    found = [n for n, name in enumerate(WEEKDAYS) if len(day) >= 3 and name.startswith(day)]
    if not found:
        raise AddressError(f"weekday: {day[:20]!r} is not a day of the week (monday to sunday)")
    return cadence, found[0]


_HOUR = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_send_at(raw: str | None) -> str | None:
    """A reader's hour as "HH:MM" (24-hour clock); empty for the digest's own."""
    text = (raw or "").strip()
    if not text:
        return None
    match = _HOUR.match(text)
    if match is None:
        raise AddressError(f"send_at: {text[:20]!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return f"{int(match[1]):02d}:{match[2]}"


def parse_time_zone(raw: str | None) -> str | None:
    """An IANA time zone name ("Europe/Berlin"), checked against the zone database; empty for
    the digest's own."""
    text = (raw or "").strip()
    if not text:
        return None
    if text not in _zone_set():
        raise AddressError(f"time_zone: {text[:64]!r} is not a time zone name (such as Europe/Berlin)")
    return text


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The zone database's names, sorted, read once (tzdata when the system has none)."""
    return tuple(sorted(zoneinfo.available_timezones()))


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    address: str
    preferences: Preferences


@dataclass(frozen=True, slots=True)
class CsvProblem:
    line: int
    problem: str


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A cell no spreadsheet runs as a formula: one that would begin one (a reader may type
    "=HYPERLINK(…)" as a keyword) gets a leading apostrophe, which :func:`read_csv` removes."""
    return "'" + text if text.startswith(_FORMULA) else text


def _uncell(text: str | None) -> str | None:
    return text[1:] if text and text.startswith("'") and text[1:].startswith(_FORMULA) else text


def read_csv(path: Path) -> Iterator[CsvRow | CsvProblem]:
    """The rows of a subscriber CSV (header: email, then optional follow, mute, include, exclude,
    send_at, time_zone, people, mute_people, cadence, weekday)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SourceError(str(path), "file not found") from None
    except UnicodeDecodeError:
        raise SourceError(str(path), "is not UTF-8 text") from None
    except OSError as exc:
        raise SourceError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "email" not in header:
        raise SourceError(str(path), "line 1: no email column (expected the header email,follow,mute)")
    unknown = [h for h in header if h not in CSV_COLUMNS and h not in EXPORT_ONLY]
    if unknown:
        raise SourceError(str(path), f"line 1: unknown column {unknown[0]!r} (known: {', '.join(CSV_COLUMNS)})")
    reader.fieldnames = header
    for record in reader:
        line = reader.line_num
        if None in record:
            yield CsvProblem(line, "more fields than the header has")
            continue
        record = {name: _uncell(value) for name, value in record.items()}
        try:
            address = normalise_address(record.get("email") or "")
            prefs = preferences(record.get("follow"), record.get("mute"), record.get("include"),
                                record.get("exclude"), record.get("send_at"), record.get("time_zone"),
                                record.get("people"), record.get("mute_people"), record.get("cadence"),
                                record.get("weekday"), record.get("searches"))
        except AddressError as exc:
            yield CsvProblem(line, str(exc))
            continue
        yield CsvRow(line, address, prefs)


class Signer:
    """Signs a subscriber's token into links (unsubscribe, preferences) and reads them back."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="paperboy-links")
        self._cards = ItsdangerousSigner(secret, salt="paperboy-cards")

    def sign_card(self, token: str) -> str:
        """The short form a card's links carry (each card of an email has four; the email must
        stay under Gmail's clip): the token and its signature, for the card actions only."""
        return str(self._cards.sign(token).decode())

    def verify_card(self, signed: str) -> str | None:
        try:
            return str(self._cards.unsign(signed).decode())
        except BadSignature:
            return None

    def sign(self, token: str, action: str) -> str:
        return str(self._serializer.dumps([action, token]))

    def verify(self, signed: str, action: str) -> str | None:
        """The token inside ``signed`` when it was signed by us for ``action``, else None."""
        try:
            value = self._serializer.loads(signed)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and value[0] == action and isinstance(value[1], str)):
            return None
        return value[1]


def unsubscribe_links(base_url: str, mail_from: str, signed: str) -> tuple[str, str]:
    """The https link and the mailto for List-Unsubscribe (and the footer)."""
    return (f"{base_url}unsubscribe?token={signed}", f"mailto:{mail_from}?subject=unsubscribe%20{signed}")


def manage_link(base_url: str, signed: str) -> str:
    """Where a subscriber chooses topics and keywords, without a login (the signed token is the key)."""
    return f"{base_url}manage?token={signed}"


_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox_key(address: str) -> str:
    """The mailbox an address reaches, for counting mails to it: case folded, a ``+tag`` dropped
    (Gmail, Outlook, iCloud, Fastmail, Proton and most servers deliver ``name+tag`` to ``name``),
    and for Gmail the dots too, which it ignores (``v.i.c.tim@googlemail.com`` is
    ``victim@gmail.com``). Only for counting: the address itself is stored and mailed as given."""
    local, _, domain = address.casefold().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"
