"""Synthetic sources shaped like the real ones, for tests and benchmarks: an arXiv listing as
RSS 2.0 (new, cross and replace entries, as arXiv's rss.arxiv.org writes them), the same as
Atom, and a Daily Papers API list.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True)
class Sample:
    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")
    categories: tuple[str, ...] = ("cs.LG",)
    announce: str = "new"
    version: int = 1


def synthetic(n: int, start: int = 1) -> list[Sample]:
    return [Sample(f"2411.{start + i:05d}", f"Synthetic study number {start + i} of sparse attention kernels",
                   f"We study sparse attention kernel {start + i}. " * 8, categories=("cs.LG", "cs.CL"))
            for i in range(n)]


def arxiv_rss(samples: Sequence[Sample], day: dt.date = dt.date(2026, 11, 20)) -> bytes:
    when = format_datetime(dt.datetime.combine(day, dt.time(0), dt.UTC))
    items = []
    for s in samples:
        link = f"https://arxiv.org/abs/{s.arxiv_id}"
        description = (f"arXiv:{s.arxiv_id}v{s.version} Announce Type: {s.announce} \n"
                       f"Abstract: {s.abstract}")
        items.append(
            "<item>"
            f"<title>{escape(s.title)}</title><link>{link}</link>"
            f"<description>{escape(description)}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{s.arxiv_id}v{s.version}</guid>'
            + "".join(f"<category>{c}</category>" for c in s.categories)
            + f"<pubDate>{when}</pubDate>"
            f"<arxiv:announce_type>{s.announce}</arxiv:announce_type>"
            f"<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>"
            f"<dc:creator>{escape(', '.join(s.authors))}</dc:creator>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" version="2.0"><channel>'
        "<title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>"
        "<description>cs.LG updates on the arXiv.org e-print archive.</description>"
        f"<pubDate>{when}</pubDate>" + "".join(items) + "</channel></rss>\n"
    ).encode()


def arxiv_atom(samples: Sequence[Sample], day: dt.date = dt.date(2026, 11, 20)) -> bytes:
    when = dt.datetime.combine(day, dt.time(0), dt.UTC).isoformat()
    entries = [
        "<entry>"
        f"<id>oai:arXiv.org:{s.arxiv_id}v{s.version}</id><title>{escape(s.title)}</title>"
        f"<updated>{when}</updated>"
        f'<link href="https://arxiv.org/abs/{s.arxiv_id}" rel="alternate" type="text/html"/>'
        f"<summary>arXiv:{s.arxiv_id}v{s.version} Announce Type: {s.announce} \nAbstract: "
        f"{escape(s.abstract)}</summary>"
        + "".join(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in s.categories)
        + "".join(f"<author><name>{escape(a)}</name></author>" for a in s.authors)
        + f"<arxiv:announce_type>{s.announce}</arxiv:announce_type></entry>"
        for s in samples
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
        "<id>http://rss.arxiv.org/atom/cs.LG</id><title>cs.LG updates on arXiv.org</title>"
        f"<updated>{when}</updated>" + "".join(entries) + "</feed>\n"
    ).encode()


def hf_api(samples: Sequence[Sample], day: dt.date = dt.date(2026, 11, 20)) -> bytes:
    """A Daily Papers API list: fields under ``paper``, some copied to the top level. Every other
    paper has code, a summary of the API's own and a submitter; every third an organisation;
    every fourth a project page: cards with and without each."""
    when = dt.datetime.combine(day, dt.time(9), dt.UTC).isoformat().replace("+00:00", ".000Z")
    items = []
    for rank, s in enumerate(samples):
        paper: dict[str, object] = {
            "id": s.arxiv_id, "title": s.title, "summary": s.abstract,
            "authors": [{"name": a, "hidden": False} for a in s.authors],
            "publishedAt": when, "upvotes": 100 - rank, "ai_keywords": ["sparse attention"]}
        item: dict[str, object] = {"paper": paper, "publishedAt": when, "submittedOnDailyAt": when,
                                   "numComments": rank % 3, "title": s.title, "summary": s.abstract,
                                   "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/"
                                                f"{s.arxiv_id}.png"}
        if rank % 2 == 0:
            paper["githubRepo"] = f"https://github.com/example/kernels-{rank}"
            paper["githubStars"] = 40 * (rank + 1)
            paper["ai_summary"] = f"Sparse attention kernel {rank + 1} runs faster on long inputs."
            item["submittedBy"] = {"fullname": "Ada Example", "name": "ada"}
        if rank % 3 == 0:
            item["organization"] = {"name": "example-lab", "fullname": "Example Lab"}
        if rank % 4 == 0:
            paper["projectPage"] = f"https://example.org/kernels/{rank}"
        items.append(item)
    return json.dumps(items).encode()
