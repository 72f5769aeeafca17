"""Each configured source's last answer: validators for the next conditional GET, and whether
reading it worked. A failure keeps the validators of the last success, so nothing is skipped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot.store.database import upsert
from bot.store.schema import SourceStateRow

table = cast(Table, SourceStateRow.__table__)


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    etag: str | None
    last_modified: str | None
    checked_at: dt.datetime
    ok_at: dt.datetime | None
    error: str | None


def find_state(session: Session, name: str) -> SourceState | None:
    row = session.execute(select(table).where(table.c.name == name)).first()
    return SourceState(*row) if row else None


def record_success(session: Session, name: str, now: dt.datetime, etag: str | None,
                   last_modified: str | None) -> None:
    upsert(session, table, {"name": name},
           {"etag": etag, "last_modified": last_modified, "checked_at": now, "ok_at": now, "error": None})


def record_failure(session: Session, name: str, now: dt.datetime, error: str) -> None:
    upsert(session, table, {"name": name}, {"checked_at": now, "error": error})
