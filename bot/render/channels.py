"""An edition as chat messages and as a webhook's JSON: each channel in its own markup (Slack's
Block Kit mrkdwn, Discord's Markdown, Matrix's HTML, Telegram's HTML subset), split on paper
boundaries to fit the channel's limits, every untrusted text escaped for the markup it goes into.

The split is greedy: papers fill a message until the next would not fit, and a topic that runs
on into the next message repeats its heading. Each message says which part it is ("(2/3)").
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.models import Edition, EditionPaper, Section
from bot.models.channels import ChannelKind, ChannelSpec, Post
from bot.render import card, clean, paper_url, snippet
from bot.render.cards import day, plural

TLDR = 280
BYLINE = 200
TITLE = 300
CLIMBING = Section("climbing", "Climbing", ())

# Slack: 50 blocks a message, 3,000 characters a section; Discord 2,000 characters; Telegram
# 4,096 (counted here on the markup, which is longer than what Telegram counts); Matrix keeps
# an event under 64 KiB, and a client renders far less comfortably.
LIMITS: dict[ChannelKind, int] = {"slack": 50, "discord": 2000, "telegram": 4096, "matrix": 24_000}
PART_ROOM = len(" (99/99)")


@dataclass(frozen=True, slots=True)
class Routed:
    """What of an edition goes to one channel, and the texts every format starts from."""

    edition: Edition
    sections: tuple[Section, ...]
    title: str
    summary: str
    url: str
    hidden: dict[str, int]
    """Papers of each topic beyond the channel's ``per_topic``, left to the edition's page."""


def routed(edition: Edition, channel: ChannelSpec, base_url: str) -> Routed | None:
    """The topics routed to ``channel`` (climbers too when it takes every topic, else those of
    its topics); None when nothing of the edition is for it."""
    wanted = set(channel.topics)
    sections = tuple(s for s in edition.sections if s.papers and (not wanted or s.slug in wanted))
    climbers = tuple(p for p in edition.climbing if not wanted or p.topic_slug in wanted)
    if climbers:
        sections += (Section(CLIMBING.slug, CLIMBING.label, climbers),)
    if not sections:
        return None
    papers = sum(len(s.papers) for s in sections if s.slug != CLIMBING.slug)
    topics = sum(1 for s in sections if s.slug != CLIMBING.slug)
    summary = f"{plural(papers, 'new paper')} in {plural(topics, 'topic')}" + (
        f", {len(climbers)} climbing" if climbers else "")
    cut = channel.per_topic
    hidden = {s.slug: len(s.papers) - cut for s in sections if cut and len(s.papers) > cut}
    shown = tuple(Section(s.slug, s.label, s.papers[:cut] if cut else s.papers) for s in sections)
    return Routed(edition, shown, f"Trending papers, {day(edition.date)}", summary,
                  f"{base_url}editions/{edition.date.isoformat()}.html", hidden)


def _link(url: str) -> str:
    """A URL safe inside any markup's link syntax: its delimiters percent-encoded."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._")


@dataclass(frozen=True, slots=True)
class Shown:
    """One paper's texts, cleaned and cut to what a chat message carries."""

    title: str
    url: str
    byline: str
    tldr: str
    links: tuple[tuple[str, str], ...]
    counts: str


def _shown(paper: EditionPaper) -> Shown:
    c = card(paper)
    counts = " · ".join(c.counts[:2])
    return Shown(snippet(c.title, TITLE), _link(paper_url(paper)), snippet(c.byline, BYLINE),
                 snippet(c.tldr or c.abstract, TLDR), tuple((link.label, _link(link.url)) for link in c.more[:3]),
                 counts)


Unit = Any
"""A format's piece of a message: a string (Discord, Telegram), a Block Kit block (Slack), a
(plain, HTML) pair (Matrix)."""


@dataclass(frozen=True, slots=True)
class Format:
    """How one kind of channel writes a message: its header (with the part's label), a topic's
    heading, a paper, the "N more" link, how long a message is by the channel's measure, and the
    body the API takes."""

    header: Callable[[Routed, str], list[Unit]]
    heading: Callable[[Section], Unit]
    paper: Callable[[Shown], Unit]
    more: Callable[[int, str], Unit]
    size: Callable[[Sequence[Unit]], int]
    body: Callable[[Routed, str, list[Unit]], dict[str, object]]


def _split(route: Routed, form: Format, limit: int) -> list[Post]:
    """The messages, filled greedily; sized with room for the widest part label, then labelled."""
    room = form.header(route, "x" * PART_ROOM)
    parts: list[list[Unit]] = []
    current: list[Unit] = []
    section: str | None = None
    for sec in route.sections:
        for index, paper in enumerate(sec.papers):
            units = [form.paper(_shown(paper))]
            if index == len(sec.papers) - 1 and sec.slug in route.hidden:
                units.append(form.more(route.hidden[sec.slug], _link(route.url)))
            needed = ([form.heading(sec)] if sec.slug != section else []) + units
            if current and form.size(room + current + needed) > limit:
                parts.append(current)
                current, needed = [], [form.heading(sec), *units]
            current += needed
            section = sec.slug
    parts.append(current)
    posts = []
    for number, body in enumerate(parts, 1):
        label = f" ({number}/{len(parts)})" if len(parts) > 1 else ""
        units = form.header(route, label) + body
        posts.append(Post(form.body(route, label, units), form.size(units)))
    return posts


# Slack: mrkdwn escapes &, < and > (which also keeps <!channel> out); a link is <url|label>.
def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_paper(p: Shown) -> Unit:
    links = " · ".join(f"<{url}|{_mrkdwn(label)}>" for label, url in p.links)
    lines = [f"*<{p.url}|{_mrkdwn(p.title)}>*", _mrkdwn(p.byline), f">{_mrkdwn(p.tldr)}",
             " · ".join(x for x in (links, p.counts) if x)]
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(x for x in lines if x.strip(">"))}}


SLACK = Format(
    header=lambda r, label: [
        {"type": "header", "text": {"type": "plain_text", "text": (r.title + label)[:150], "emoji": False}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"{_mrkdwn(r.summary)} · <{_link(r.url)}|Read on the web>"}]}],
    heading=lambda s: {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_mrkdwn(clean(s.label))}*"}},
    paper=_slack_paper,
    more=lambda n, url: {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{url}|{n} more on the web>"}]},
    size=len,
    body=lambda r, label, units: {"text": f"{r.title}{label}: {r.summary}", "blocks": units,
                                  "unfurl_links": False, "unfurl_media": False},
)

# Discord: Markdown with backslash escapes; nobody is pinged (allowed_mentions) and no preview
# is unfurled (flag 4, SUPPRESS_EMBEDS).
_DISCORD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*_~`|>[]()<@"})


def _md(text: str) -> str:
    """Text that Discord shows as it is: inline markup escaped, and a heading's or a list's
    mark where it would start a line."""
    escaped = text.translate(_DISCORD_SPECIAL)
    return "\\" + escaped if escaped[:1] in ("#", "-", "+") else escaped


def _discord_paper(p: Shown) -> Unit:
    links = " · ".join(f"[{_md(label)}](<{url}>)" for label, url in p.links)
    lines = [f"**[{_md(p.title)}](<{p.url}>)**", _md(p.byline), f"> {_md(p.tldr)}" if p.tldr else "",
             " · ".join(x for x in (links, p.counts) if x)]
    return "\n".join(x for x in lines if x)


def _text_size(units: Sequence[Unit]) -> int:
    return len("\n\n".join(units))


DISCORD = Format(
    header=lambda r, label: [f"**{_md(r.title)}{label}**\n{_md(r.summary)} · [Read on the web](<{_link(r.url)}>)"],
    heading=lambda s: f"__**{_md(clean(s.label))}**__",
    paper=_discord_paper,
    more=lambda n, url: f"[{n} more on the web](<{url}>)",
    size=_text_size,
    body=lambda r, label, units: {"content": "\n\n".join(units), "allowed_mentions": {"parse": []}, "flags": 4},
)

# Telegram's HTML: <b>, <i>, <a href> and escaped &, <, > (and " in attributes).
_esc = html.escape


def _telegram_paper(p: Shown) -> Unit:
    links = " · ".join(f'<a href="{_esc(url)}">{_esc(label)}</a>' for label, url in p.links)
    lines = [f'• <a href="{_esc(p.url)}">{_esc(p.title)}</a>', _esc(p.byline),
             f"<i>{_esc(p.tldr)}</i>" if p.tldr else "", " · ".join(x for x in (links, _esc(p.counts)) if x)]
    return "\n".join(x for x in lines if x)


TELEGRAM = Format(
    header=lambda r, label: [f"<b>{_esc(r.title + label)}</b>\n{_esc(r.summary)} · "
                             f'<a href="{_esc(_link(r.url))}">Read on the web</a>'],
    heading=lambda s: f"<b>{_esc(clean(s.label))}</b>",
    paper=_telegram_paper,
    more=lambda n, url: f'<a href="{_esc(url)}">{n} more on the web</a>',
    size=_text_size,
    body=lambda r, label, units: {"text": "\n\n".join(units), "parse_mode": "HTML",
                                  "link_preview_options": {"is_disabled": True}},
)


# Matrix: m.notice (what bots send) with a plain body and org.matrix.custom.html.
def _matrix_paper(p: Shown) -> Unit:
    links = [f"{label}: {url}" for label, url in p.links]
    plain = "\n".join(x for x in (f"* {p.title} <{p.url}>", f"  {p.byline}" if p.byline else "",
                                  f"  {p.tldr}" if p.tldr else "", "  " + " · ".join([*links, p.counts]).strip(" ·"))
                      if x.strip())
    anchors = " · ".join(f'<a href="{_esc(url)}">{_esc(label)}</a>' for label, url in p.links)
    markup = "".join(x for x in (f'<li><a href="{_esc(p.url)}"><strong>{_esc(p.title)}</strong></a>',
                                 f"<br>{_esc(p.byline)}" if p.byline else "",
                                 f"<br><em>{_esc(p.tldr)}</em>" if p.tldr else "",
                                 f"<br>{' · '.join(x for x in (anchors, _esc(p.counts)) if x)}", "</li>"))
    return (plain, markup)


def _matrix_size(units: Sequence[Unit]) -> int:
    return sum(len(plain.encode()) + len(markup.encode()) + 16 for plain, markup in units)


def _matrix_body(route: Routed, label: str, units: list[Unit]) -> dict[str, object]:
    markup, open_list = [], False
    for _plain, piece in units:
        if piece.startswith("<li>") != open_list:
            markup.append("<ul>" if not open_list else "</ul>")
            open_list = not open_list
        markup.append(piece)
    markup.append("</ul>" if open_list else "")
    return {"msgtype": "m.notice", "body": "\n".join(plain for plain, _ in units),
            "format": "org.matrix.custom.html", "formatted_body": "".join(markup)}


MATRIX = Format(
    header=lambda r, label: [(f"{r.title}{label}\n{r.summary} · {r.url}",
                              f"<h3>{_esc(r.title + label)}</h3><p>{_esc(r.summary)} · "
                              f'<a href="{_esc(_link(r.url))}">Read on the web</a></p>')],
    heading=lambda s: (f"\n{clean(s.label)}", f"<h4>{_esc(clean(s.label))}</h4>"),
    paper=_matrix_paper,
    more=lambda n, url: (f"  {n} more: {url}", f'<li><a href="{_esc(url)}">{n} more on the web</a></li>'),
    size=_matrix_size,
    body=_matrix_body,
)

FORMATS: dict[ChannelKind, Format] = {"slack": SLACK, "discord": DISCORD, "telegram": TELEGRAM, "matrix": MATRIX}


def _webhook_paper(paper: EditionPaper) -> dict[str, object]:
    c = card(paper)
    made = {link.label: link.url for link in c.links}
    links = {"arxiv": made.get("arXiv"), "pdf": made.get("PDF"), "code": paper.links.github_repo,
             "project": paper.links.project_page}
    return {"id": paper.key, "arxiv_id": paper.arxiv_id, "title": c.title, "authors": list(c.names),
            "organization": clean(paper.organization) or None, "tldr": c.tldr, "url": paper_url(paper),
            "links": {k: v for k, v in links.items() if v}, "upvotes": paper.upvotes, "rise": paper.rise,
            "stars": paper.links.github_stars, "comments": paper.links.comments,
            "published": paper.published.isoformat() if paper.published else None}


def webhook_body(route: Routed, channel: str) -> dict[str, object]:
    """The generic webhook's document (its shape is documented in the README): every routed
    paper with its card's fields, plain text, for the receiver to render as it likes."""
    edition = route.edition
    return {"type": "edition", "channel": channel, "date": edition.date.isoformat(), "title": route.title,
            "summary": route.summary, "url": route.url, "note": clean(edition.note) or None,
            "topics": [{"slug": s.slug, "label": clean(s.label), "papers": [_webhook_paper(p) for p in s.papers],
                        "more": route.hidden.get(s.slug, 0)}
                       for s in route.sections if s.slug != CLIMBING.slug],
            "climbing": [_webhook_paper(p) for s in route.sections if s.slug == CLIMBING.slug for p in s.papers]}


def channel_posts(edition: Edition, channel: ChannelSpec, base_url: str) -> list[Post]:
    """The messages that post ``edition`` to ``channel``, in order; none when nothing is routed
    there. The bodies are what the channel's API takes, but for where they go (the deliver side
    adds the URL, the chat or room, the token and the signature)."""
    route = routed(edition, channel, base_url)
    if route is None:
        return []
    if channel.kind == "webhook":
        body = webhook_body(route, channel.name)
        return [Post(body, len(json.dumps(body, ensure_ascii=False).encode()))]
    return _split(route, FORMATS[channel.kind], LIMITS[channel.kind])
