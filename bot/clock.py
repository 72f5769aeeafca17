"""The one way paperboy reads the time: a clock is a function returning an aware UTC datetime,
passed in (the composition root's, a test's frozen one) and defaulting to :func:`utc_now`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
