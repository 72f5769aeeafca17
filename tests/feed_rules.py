"""The W3C Feed Validation Service's error rules that apply to the feeds paperboy writes.

The validator itself (w3c/feedvalidator) is neither on PyPI nor reachable from CI, so these are
its checks restated for RSS 2.0 and Atom 1.0: required elements, full URIs and well-formed URNs
for ids and links, RFC 822 dates with the right weekday in RSS, RFC 3339 dates in Atom, unique
ids, typed Atom text, an author for every Atom entry, and HTML content free of elements and
attributes it reports as security risks or relative references. ``problems`` returns one line
per violation, empty for a valid feed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"

# RFC 2141 (a URN) and RFC 3986 (the characters a full URI may hold, unescaped).
URN = re.compile(r"^urn:[a-z0-9][a-z0-9-]{1,31}:([a-z0-9()+,.:=@;$_!*'-]|%[0-9a-f]{2})+$", re.I)
FULL_URI = re.compile(r"^[a-z][a-z0-9+.-]*:(//)?[a-z0-9;/?:@&=+$.\-_!~*'()%,#]+$", re.I)
RFC_822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d\d:\d\d(:\d\d)? ([+-]\d\d[03]0|UT|GMT|Z)$")
RFC_3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
TEXT_TYPES = {"text", "html", "xhtml"}
SAFE_ELEMENTS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
SAFE_ATTRIBUTES = {"href", "title", "class", "id", "lang", "dir", "rel", "colspan", "rowspan", "alt", "cite"}


def problems(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    if root.tag == "rss":
        found = _rss(root)
    elif root.tag == f"{ATOM}feed":
        found = _atom(root)
    else:
        found = [f"unknown root element {root.tag}"]
    return [f"{path.name}: {p}" for p in found]


def _id(value: str | None, where: str) -> list[str]:
    if not value:
        return [f"{where}: empty id"]
    if value.lower().startswith("urn:"):
        return [] if URN.match(value) else [f"{where}: invalid URN {value!r}"]
    return [] if FULL_URI.match(value) else [f"{where}: not a full URI {value!r}"]


def _uri(value: str | None, where: str) -> list[str]:
    return [] if value and FULL_URI.match(value) else [f"{where}: not a full URI {value!r}"]


def _rfc822(value: str | None, where: str) -> list[str]:
    if not value or not RFC_822.match(value):
        return [f"{where}: not an RFC 822 date {value!r}"]
    parsed = email.utils.parsedate_to_datetime(value)
    return [] if parsed.strftime("%a") == value[:3] else [f"{where}: wrong day of the week in {value!r}"]


def _rfc3339(value: str | None, where: str) -> list[str]:
    if not value or not RFC_3339.match(value):
        return [f"{where}: not an RFC 3339 date {value!r}"]
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return []


def _once(parent: ElementTree.Element, tag: str, where: str, required: bool = True) -> list[str]:
    count = len(parent.findall(tag))
    if count == 0 and required:
        return [f"{where}: missing {tag}"]
    return [f"{where}: {tag} appears {count} times"] if count > 1 else []


def _rss(root: ElementTree.Element) -> list[str]:
    found = [] if root.get("version") == "2.0" else ["rss: version is not 2.0"]
    channels = root.findall("channel")
    if len(channels) != 1:
        return [*found, f"rss: {len(channels)} channels"]
    channel = channels[0]
    for tag in ("title", "link", "description"):
        found += _once(channel, tag, "channel")
    for tag in ("language", "lastBuildDate", "pubDate", "generator", "docs"):
        found += _once(channel, tag, "channel", required=False)
    found += _uri(channel.findtext("link"), "channel/link")
    for tag in ("lastBuildDate", "pubDate"):
        if channel.find(tag) is not None:
            found += _rfc822(channel.findtext(tag), f"channel/{tag}")
    found += _self_link(channel.findall(f"{ATOM}link"), "application/rss+xml", "channel")
    guids: set[str] = set()
    for n, item in enumerate(channel.findall("item"), 1):
        where = f"item {n}"
        if not (item.findtext("title") or item.findtext("description")):
            found.append(f"{where}: neither title nor description")
        for tag in ("title", "link", "description", "guid", "pubDate", CONTENT):
            found += _once(item, tag, where, required=False)
        guid = item.find("guid")
        if guid is not None:
            found += _id(guid.text, f"{where}/guid")
            if guid.get("isPermaLink", "true") == "true":
                found += _uri(guid.text, f"{where}/guid (a permalink)")
            if guid.text in guids:
                found.append(f"{where}: duplicate guid {guid.text!r}")
            guids.add(guid.text or "")
        if item.find("link") is not None:
            found += _uri(item.findtext("link"), f"{where}/link")
        if item.find("pubDate") is not None:
            found += _rfc822(item.findtext("pubDate"), f"{where}/pubDate")
        for category in item.findall("category"):
            if not (category.text or "").strip():
                found.append(f"{where}: empty category")
        for tag in ("description", CONTENT):
            found += _html(item.findtext(tag) or "", f"{where}/{tag}")
    return found


def _self_link(links: list[ElementTree.Element], media_type: str, where: str) -> list[str]:
    selves = [link for link in links if link.get("rel") == "self"]
    if len(selves) != 1:
        return [f"{where}: {len(selves)} atom:link rel=self"]
    found = _uri(selves[0].get("href"), f"{where}/link[@rel=self]")
    if selves[0].get("type") != media_type:
        found.append(f"{where}: self link type is {selves[0].get('type')!r}, not {media_type}")
    return found


def _text_construct(element: ElementTree.Element | None, where: str) -> list[str]:
    if element is None:
        return [f"{where}: missing"]
    kind = element.get("type")
    if kind not in TEXT_TYPES:
        return [f"{where}: type {kind!r} is not text, html or xhtml"]
    return _html(element.text or "", where) if kind == "html" else []


def _atom(feed: ElementTree.Element) -> list[str]:
    found: list[str] = []
    for tag in ("id", "title", "updated"):
        found += _once(feed, f"{ATOM}{tag}", "feed")
    found += _id(feed.findtext(f"{ATOM}id"), "feed/id")
    found += _text_construct(feed.find(f"{ATOM}title"), "feed/title")
    found += _rfc3339(feed.findtext(f"{ATOM}updated"), "feed/updated")
    found += _self_link(feed.findall(f"{ATOM}link"), "application/atom+xml", "feed")
    alternates = [link for link in feed.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
    if len({(link.get("type"), link.get("hreflang")) for link in alternates}) != len(alternates):
        found.append("feed: two alternate links of the same type and language")
    feed_author = _has_author(feed)
    found += _nameless_authors(feed, "feed")
    ids: set[str] = set()
    for n, entry in enumerate(feed.findall(f"{ATOM}entry"), 1):
        where = f"entry {n}"
        for tag in ("id", "title", "updated"):
            found += _once(entry, f"{ATOM}{tag}", where)
        for tag in ("published", "content", "summary"):
            found += _once(entry, f"{ATOM}{tag}", where, required=False)
        entry_id = entry.findtext(f"{ATOM}id") or ""
        found += _id(entry_id, f"{where}/id")
        if entry_id in ids:
            found.append(f"{where}: duplicate id {entry_id!r}")
        ids.add(entry_id)
        found += _text_construct(entry.find(f"{ATOM}title"), f"{where}/title")
        found += _rfc3339(entry.findtext(f"{ATOM}updated"), f"{where}/updated")
        if entry.find(f"{ATOM}published") is not None:
            found += _rfc3339(entry.findtext(f"{ATOM}published"), f"{where}/published")
        content = entry.find(f"{ATOM}content")
        if content is not None:
            found += _text_construct(content, f"{where}/content")
        elif not [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]:
            found.append(f"{where}: no content and no alternate link")
        for link in entry.findall(f"{ATOM}link"):
            found += _uri(link.get("href"), f"{where}/link")
        if not _has_author(entry) and not feed_author:
            found.append(f"{where}: no author (and none on the feed)")
        found += _nameless_authors(entry, where)
        for category in entry.findall(f"{ATOM}category"):
            if not category.get("term"):
                found.append(f"{where}: category without a term")
    return found


def _has_author(element: ElementTree.Element) -> bool:
    return any((a.findtext(f"{ATOM}name") or "").strip() for a in element.findall(f"{ATOM}author"))


def _nameless_authors(element: ElementTree.Element, where: str) -> list[str]:
    return [f"{where}: author without a name" for a in element.findall(f"{ATOM}author")
            if not (a.findtext(f"{ATOM}name") or "").strip()]


class _HtmlCheck(HTMLParser):
    def __init__(self, where: str) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SAFE_ELEMENTS:
            self.found.append(f"{self.where}: unsafe element <{tag}>")
        for name, value in attrs:
            if name not in SAFE_ATTRIBUTES:
                self.found.append(f"{self.where}: unsafe attribute {name!r} on <{tag}>")
            elif name == "href" and not FULL_URI.match(value or ""):
                self.found.append(f"{self.where}: relative or invalid reference {value!r}")


def _html(markup: str, where: str) -> list[str]:
    check = _HtmlCheck(where)
    check.feed(markup)
    check.close()
    return check.found
