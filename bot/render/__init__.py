"""The render stage: editions into email, feeds and archive pages, through Jinja2 templates.

Every text from a dump is untrusted. Templates autoescape it; ``clean`` also drops control
characters (NUL, CR and the like) that no reader should see, and keeps every other character
(CJK, emoji, math) as it is.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from urllib.parse import quote

import jinja2

import bot
from bot.models import EditionPaper

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
SNIPPET = 300


def template_dirs(override: Path | None = None) -> list[Path]:
    """The configured directory first, then the bundled templates (checkout or installed)."""
    package = Path(bot.__file__).resolve().parent
    bundled = [p for p in (package / "templates", package.parent / "templates") if p.is_dir()]
    return ([override] if override else []) + bundled[:1]


def environment(override: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(override)]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(clean=clean, snippet=snippet, wrap=wrap, paper_url=paper_url)
    return env


def clean(text: str | None) -> str:
    """One line of untrusted text: control characters and line breaks become spaces."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def snippet(text: str | None, limit: int = SNIPPET) -> str:
    """The first ``limit`` characters, cut at a word, with an ellipsis when cut."""
    text = clean(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–—")
    return cut + "…"


def wrap(text: str, width: int = 78, indent: str = "") -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def paper_url(paper: EditionPaper) -> str:
    """The paper's Hugging Face page when its arXiv id is known, else a search for its title."""
    if paper.arxiv_id:
        return f"https://huggingface.co/papers/{quote(paper.arxiv_id)}"
    return f"https://huggingface.co/papers?q={quote(clean(paper.title))}"
