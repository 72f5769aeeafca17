"""Rate limits that hold across processes and restarts: a sliding-window estimate over two fixed
windows (this one's count, plus the last one's weighted by how much of it still overlaps), as
Cloudflare and nginx do it. The increment is one atomic upsert, so concurrent web processes
never both take the last allowed request."""

from __future__ import annotations

import datetime as dt
import random
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from bot.store.database import conflict_insert
from bot.store.schema import RateCountRow

table = cast(Table, RateCountRow.__table__)


def hit(session: Session, bucket: str, key: str, *, limit: int, window: int, now: dt.datetime) -> bool:
    """Count one request for ``key`` and say whether it is within ``limit`` per ``window`` seconds."""
    moment = now.timestamp()
    start = int(moment // window) * window
    earlier = table.alias("earlier")
    previous_count = (select(earlier.c.count).where(earlier.c.bucket == bucket, earlier.c.key == key,
                                                     earlier.c.window_start == start - window).scalar_subquery())
    statement = conflict_insert(session, table).values(bucket=bucket, key=key, window_start=start, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["bucket", "key", "window_start"], set_={"count": table.c.count + 1},
    ).returning(table.c.count, previous_count)  # the last window's count in the same round trip
    current, previous = session.execute(statement).one()
    overlap = 1 - (moment - start) / window
    if random.random() < 0.01:  # forget windows no estimate reads any more, now and then
        session.execute(delete(table).where(table.c.window_start < start - window))
    return bool(int(current) + (previous or 0) * overlap <= limit)
