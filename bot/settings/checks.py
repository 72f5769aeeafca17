"""The checks every setting goes through: each turns a raw value (TOML or an environment
string) into its typed form, or raises ValueError with what was expected."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def _nonempty(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be empty")
    return text


def _path(value: Any) -> Path:
    return Path(_nonempty(value)).expanduser()


def _between(kind: type[int | float], low: float, high: float) -> Callable[[Any], Any]:
    what = "a whole number" if kind is int else "a number"

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected {what}, got {value!r}")
        try:
            number = kind(str(value).strip())
        except ValueError:
            raise ValueError(f"expected {what}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}, got {number:g}")
        return number

    return check


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    return _between(int, low, high)


def _float_between(low: float, high: float) -> Callable[[Any], float]:
    return _between(float, low, high)


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _text(value).lower()
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return text

    return check


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _timezone(value: Any) -> str:
    name = _nonempty(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None
    return name


def _database_url(value: Any) -> str:
    url = _nonempty(value)
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if "://" not in url or scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(
            "expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, "
            f"got {url.split('@')[-1]!r}"
        )
    if scheme == "postgres":
        url = "postgresql" + url[len("postgres") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _http_url(value: Any) -> str:
    url = _nonempty(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _http_url_or_off(value: Any) -> str:
    """An http(s) base URL, or empty for "off"."""
    return _http_url(value) if _text(value) else ""


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(low: dt.timedelta, high: dt.timedelta) -> Callable[[Any], dt.timedelta]:
    """``"90m"``, ``"6h"``, ``"1h30m"``, ``"2d"`` or a number of seconds."""

    def check(value: Any) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected a duration such as \"90m\" or \"6h\", got {value!r}")
        text = str(value).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(r"(\d+[smhd])+", text):
            seconds = sum(int(n) * DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", text))
        else:
            raise ValueError(f"expected a duration such as \"90m\" or \"6h\", got {value!r}")
        duration = dt.timedelta(seconds=seconds)
        if not low <= duration <= high:
            raise ValueError(f"expected a duration from {show_duration(low)} to {show_duration(high)}, "
                             f"got {show_duration(duration)}")
        return duration

    return check


def show_duration(duration: dt.timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _clock_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    text = _text(value)
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"expected a time of day as HH:MM (24-hour), got {value!r}")
    return dt.time(int(match[1]), int(match[2]))


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_SETS = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}


def _weekday(word: str) -> int:
    for number, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return number
    raise ValueError(word)


def _days(value: Any) -> tuple[int, ...]:
    """``"daily"``, ``"weekdays"``, ``"weekends"``, ``"mon-fri"``, ``"mon,wed,fri"`` or a list of
    day names; Monday is 0. A range may wrap (``"fri-mon"``)."""
    items = value if isinstance(value, list) else _text(value).lower().split(",")
    days: set[int] = set()
    for item in items:
        word = _text(item).lower()
        if word in DAY_SETS:
            days.update(DAY_SETS[word])
            continue
        first, _, last = word.partition("-")
        try:
            start = _weekday(first.strip())
            end = _weekday(last.strip()) if last else start
        except ValueError:
            raise ValueError(f"expected daily, weekdays, weekends or day names such as mon-fri, "
                             f"got {value!r}") from None
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    if not days:
        raise ValueError("must name at least one day")
    return tuple(sorted(days))


def _address(value: Any) -> str:
    text = _nonempty(value)
    if any(c in text for c in "\r\n") or "@" not in text:
        raise ValueError(f"expected an email address, got {text!r}")
    return text


def _items(value: Any) -> list[str]:
    """A TOML list of strings, or one string of comma-separated items (as a variable gives)."""
    items = value if isinstance(value, list) else _text(value).split(",")
    return [word for word in (_text(item) for item in items) if word]


_HOST = re.compile(r"(?:\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?", re.IGNORECASE)


def _hosts(value: Any) -> tuple[str, ...]:
    """Host names, each maybe with ``:port`` or a leading ``*.`` for its subdomains."""
    hosts = tuple(item.lower() for item in _items(value))
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ValueError(f"expected host names such as papers.example.org, *.example.org or host:8080, "
                             f"got {host!r}")
    return hosts


def _networks(value: Any) -> tuple[str, ...]:
    """IP addresses or networks (``10.0.0.0/8``), as uvicorn's ``--forwarded-allow-ips`` takes them."""
    networks = _items(value)
    for item in networks:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8, "
                             f"got {item!r}") from None
    return tuple(networks)
