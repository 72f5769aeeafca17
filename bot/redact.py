"""Credentials out of what paperboy shows: a source URL may carry ``user:pass@`` or an API key
in its query, and it appears in errors, ``status``, logs and the stored reports of each source.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|pass|pwd|auth|sig|session|credential|code", re.IGNORECASE)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>\"')]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its userinfo and the values of secret-looking query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted as :func:`redact_url` does."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def without_urls(text: str) -> str:
    """``text`` with URLs (and the parentheses around one) removed, for what the public sees."""
    return re.sub(r"\s*\(" + _URL.pattern + r"\)|" + _URL.pattern, "", text, flags=re.IGNORECASE).strip()


def printable(text: str) -> str:
    """``text`` with newlines, terminal escapes and other unprintable characters written as
    escapes (``\\n``, ``\\x1b``), so a hostile file name cannot forge lines or colours."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
