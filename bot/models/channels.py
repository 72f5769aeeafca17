"""The records of chat and webhook channels: what the operator configured, one message of an
edition as a channel's API takes it, and what became of it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

ChannelKind = Literal["slack", "discord", "matrix", "telegram", "webhook"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = ("slack", "discord", "matrix", "telegram", "webhook")
PostStatus = Literal["pending", "sending", "sent", "failed", "retrying"]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One ``[[channels]]`` entry. ``url`` is the incoming webhook (Slack, Discord, webhook), the
    homeserver (Matrix) or the Bot API's base (Telegram); ``secret`` the Matrix or Telegram
    token, or the webhook's signing key; ``target`` the Matrix room or the Telegram chat.
    ``topics`` are the slugs routed here, empty for every topic."""


    name: str
    kind: ChannelKind
    url: str
    secret: str | None = None
    target: str | None = None
    topics: tuple[str, ...] = ()
    per_topic: int = 5
    """Papers shown per topic (the top ones; a chat is read at a glance), 0 for all of them."""

    @property
    def where(self) -> str:
        """The URL's scheme and host only: a Slack or Discord webhook's path is its credential."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"

    def __repr__(self) -> str:  # settings get logged; webhook URLs and tokens are credentials
        return (f"ChannelSpec(name={self.name!r}, kind={self.kind!r}, url={self.where + '/***'!r}, "
                f"secret={'***' if self.secret else None}, target={self.target!r}, topics={self.topics!r}, "
                f"per_topic={self.per_topic})")


@dataclass(frozen=True, slots=True)
class Post:
    """One message as its channel's API takes it: the JSON body, and how long its text is by
    the measure the channel limits (characters for chats, bytes for Matrix)."""

    body: dict[str, object]
    size: int


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """One part of an edition for one channel: the unit the channel outbox claims and records."""

    id: int
    channel: str
    edition_date: dt.date
    part: int
    parts: int
    key: str
    """Stable across retries and resends: Matrix's transaction id, the webhook's delivery id."""
    status: PostStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None = None
    sent_at: dt.datetime | None = None
    resent: int = 0
    """Sends taken over from a sender that stopped before recording: the channel may have it twice."""
