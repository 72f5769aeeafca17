"""Reading a source: a URL over HTTP (httpx) or a local file, within a size limit.

HTTP requests name paperboy in their User-Agent, accept gzip, follow at most five redirects,
give up after ``fetch.timeout`` seconds and stop reading past ``fetch.max_mb``. They send the
source's stored ETag and Last-Modified; a 304 means nothing new. Every failure (DNS, refused,
timeout, 4xx/5xx, too large) is one SourceError line naming the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from bot import __version__
from bot.errors import SourceError

MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """``body`` is None when the server said 304 Not Modified."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def user_agent(base_url: str) -> str:
    return f"paperboy/{__version__} (+{base_url})"


def fetch(url: str, *, timeout: float, max_bytes: int, agent: str, etag: str | None = None,
          last_modified: str | None = None) -> Fetched:
    headers = {"User-Agent": agent, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with httpx.Client(follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=timeout) as client, \
                client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code >= 400:
                raise SourceError(url, f"HTTP {response.status_code} {response.reason_phrase}".strip())
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes and "gzip" not in response.headers.get(
                    "content-encoding", ""):
                raise SourceError(url, f"is larger than {max_bytes // 2**20} MiB (fetch.max_mb)")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(url, f"is larger than {max_bytes // 2**20} MiB (fetch.max_mb)")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), response.headers.get("etag"), response.headers.get("last-modified"))
    except httpx.TimeoutException:
        raise SourceError(url, f"timed out after {timeout:g} s (fetch.timeout)") from None
    except httpx.TooManyRedirects:
        raise SourceError(url, f"redirects more than {MAX_REDIRECTS} times") from None
    except httpx.ConnectError as exc:
        raise SourceError(url, f"cannot connect ({_first_line(exc)})") from None
    except httpx.HTTPError as exc:
        raise SourceError(url, f"failed: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def read_local(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(str(path), f"is larger than {max_bytes // 2**20} MiB (fetch.max_mb)")
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(str(path), "no such file") from None
    except IsADirectoryError:
        raise SourceError(str(path), "is a directory") from None
    except OSError as exc:
        raise SourceError(str(path), f"cannot be read ({exc.strerror or exc})") from None
