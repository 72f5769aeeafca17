"""The render stage: editions into email, feeds and archive pages, through Jinja2 templates.

Every text from a dump is untrusted. Templates autoescape it; ``clean`` also drops control
characters (NUL, CR and the like) that no reader should see, keeps every other character (CJK,
emoji, math) as it is, and reads the LaTeX that arXiv titles and abstracts carry (``T\\"ULU``,
``$\\alpha$``) as the text it stands for.
"""

from __future__ import annotations

import functools
import logging
import re
import textwrap
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

import bot
from bot.models import EditionPaper
from bot.models.search import START, STOP, pieces
from bot.render.cards import Card, day, make_card, plural

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
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "xml", "xsl"), default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(clean=clean, snippet=snippet, wrap=wrap, paper_url=paper_url, card=card, day=day, marked=marked,
                       plural=plural)
    return env


def clean(text: str | None) -> str:
    """One line of untrusted text: control characters and line breaks become spaces, LaTeX
    becomes the text it stands for."""
    line = " ".join(_CONTROL.sub(" ", text or "").split())
    return _readable(line) if "\\" in line or "$" in line else line


# A command (\alpha, \textbf, \"), or a $…$ that holds one, a ^ or a _: what LaTeX looks like in
# a title. "$5 and $10" or "50%" must stay as they are.
_LATEX_COMMAND = re.compile(r"\\(?:[A-Za-z]+|[\"'`^~=.])")
_MATH = re.compile(r"\$([^$]{1,200})\$")


@functools.lru_cache(maxsize=8192)
def _readable(line: str) -> str:
    """pylatexenc's reading of ``line`` where it holds LaTeX; unchanged where it does not or
    where pylatexenc cannot read it. Percent signs and dollar signs that are not math are
    escaped first (LaTeX would take a % for a comment and drop the rest of the line)."""
    math = [m for m in _MATH.finditer(line) if re.search(r"[\\^_{}]", m.group(1)) or len(m.group(1).strip()) == 1]
    if not math and not _LATEX_COMMAND.search(line):
        return line
    from pylatexenc.latex2text import LatexNodes2Text  # imported by the processes that render

    # it warns about each macro it cannot expand; such a line is shown as it came instead
    logging.getLogger("pylatexenc").setLevel(logging.ERROR)

    pieces, at = [], 0
    for m in math:
        pieces.append(_escaped(line[at:m.start()]))
        pieces.append(m.group(0))
        at = m.end()
    pieces.append(_escaped(line[at:]))
    try:
        text = LatexNodes2Text(math_mode="text", strict_latex_spaces=True).latex_to_text("".join(pieces))
    except Exception:  # noqa: BLE001 - a text pylatexenc cannot read is shown as it came
        return line
    if "%s" in text and "%s" not in line:  # a macro pylatexenc could not fill in
        return line
    return " ".join(text.split()) or line


def _escaped(text: str) -> str:
    return text.replace("%", "\\%").replace("$", "\\$").replace("&", "\\&").replace("#", "\\#")


@functools.lru_cache(maxsize=4096)
def card(paper: EditionPaper) -> Card:
    """The card of ``paper``, made once however many copies of the edition show it."""
    return make_card(paper, clean)


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
    """The paper's Hugging Face page when its arXiv id is known, else a search for its title:
    its card's first link, which the card decides."""
    return card(paper).links[0].url


def marked(text: str) -> Markup:
    """A search hit's text as HTML: every piece escaped, the matched words in <mark>."""
    tags = {START: Markup("<mark>"), STOP: Markup("</mark>")}
    return Markup("").join(tags.get(piece) or escape(piece) for piece in pieces(text))
