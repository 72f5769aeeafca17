"""The records about readers: what a subscriber chose, who they are, each copy of an edition
sent to them, and what a send run did."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]
DeliveryStatus = Literal["pending", "sending", "sent", "failed", "skipped", "uncertain"]
Outcome = Literal["sent", "skipped", "failed", "retrying", "uncertain"]
"""What became of one send: recorded as a delivery status (retrying stays pending)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What a reader's "more / less like this" and library taught: signed term weights (L2 norm 1)
    and the papers they liked, newest first, each with its strongest terms (to say why a paper
    was picked). Derived from their verdicts when these change, never at send time."""

    terms: tuple[tuple[str, float], ...] = ()
    liked: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(paper key, title, terms) of each liked paper."""

    def __bool__(self) -> bool:
        return bool(self.terms)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One paper a reader rated (+1 more like this, -1 less) or brought from their library (+1);
    ``text`` is what the profile reads of it (title and abstract)."""

    key: str
    title: str
    text: str
    sign: int
    origin: str = "email"
    """"email" (a card's link) or "library" (an arXiv id or a reference file from the manage page)."""
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a subscriber wants from an edition (every topic, keyword and people field empty
    means everything) and when: ``send_at`` ("HH:MM") in ``time_zone`` (an IANA name), each None
    for the digest's own ``schedule.time`` and ``schedule.timezone``."""

    follow: tuple[str, ...] = ()
    mute: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    send_at: str | None = None
    time_zone: str | None = None
    people: tuple[str, ...] = ()
    """Authors and organisations whose papers come first ("From people you follow")."""
    mute_people: tuple[str, ...] = ()
    """Authors and organisations whose papers never appear."""
    cadence: str = "daily"
    """"daily", "weekdays" (Monday to Friday), "weekly" (on ``weekday``: the best of the seven
    days to it) or "monthly" (on the month's first edition: the best of the month before)."""
    weekday: int = 0
    """A weekly reader's day, Monday 0 to Sunday 6."""
    profile: Profile = Profile()
    """Learnt from the reader's verdicts; orders papers within topics and picks some for them."""
    searches: tuple[str, ...] = ()
    """Saved searches: a paper holding every word of one comes first, in "Your searches"."""

    @property
    def everything(self) -> bool:
        return not (self.follow or self.mute or self.include or self.exclude or self.people or self.mute_people
                    or self.profile or self.searches)


@dataclass(frozen=True, slots=True)
class Subscriber:
    address: str
    status: SubscriberStatus
    preferences: Preferences
    token: str
    created_at: dt.datetime
    confirmed_at: dt.datetime | None = None
    hard_failures: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One edition to one subscriber: the unit the outbox claims, sends and records."""

    id: int
    edition_date: dt.date
    address: str
    message_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None = None
    sent_at: dt.datetime | None = None
    uncertain: int = 0  # sends whose outcome is unknown (the server had it all, its reply never came)


@dataclass(frozen=True, slots=True)
class SendSummary:
    edition: dt.date
    queued: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    uncertain: int = 0
    seconds: float = 0.0
    posts: PostCounts | None = None
    """The channels' side of the run, when channels are configured."""

    def as_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "edition": self.edition.isoformat(), "queued": self.queued, "sent": self.sent, "failed": self.failed,
            "skipped": self.skipped, "retrying": self.retrying, "uncertain": self.uncertain}
        if self.posts is not None:
            shown["channels"] = {"queued": self.posts.queued, "sent": self.posts.sent, "failed": self.posts.failed,
                                 "retrying": self.posts.retrying, "errors": dict(self.posts.errors)}
        return shown


@dataclass(frozen=True, slots=True)
class PostCounts:
    """Channel parts a run queued, posted, failed and left to retry, and each failing channel's
    last error."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    errors: tuple[tuple[str, str], ...] = ()
