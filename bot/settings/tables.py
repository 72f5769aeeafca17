"""The settings that are tables in the file: ``[[topics]]`` and ``[[sources]]``."""

from __future__ import annotations

import re
from typing import Any

from bot.errors import ConfigError
from bot.identity import slugify
from bot.models import SourceSpec, TopicRule
from bot.redact import redact_url


def _text_list(value: Any, key: str, source: str, required: bool) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(key, "expected a list of non-empty strings", source)
    if required and not value:
        raise ConfigError(key, "must list at least one phrase", source)
    return tuple(v.strip() for v in value)


def _topics(value: Any, source: str) -> tuple[TopicRule, ...]:
    """``[[topics]]`` tables: name, include (phrases), optional exclude, slug and formerly (the
    slugs it had before a rename, whose followers move to it)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("topics", "expected [[topics]] tables", source)
    rules: list[TopicRule] = []
    for number, table in enumerate(value, 1):
        key = f"topics[{number}]"
        unknown = set(table) - {"name", "include", "exclude", "slug", "formerly"}
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown key (name, include, exclude, slug, formerly)",
                              source)
        name = table.get("name")
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "\r\n"):
            raise ConfigError(f"{key}.name", "expected a one-line name", source)
        slug = slugify(str(table.get("slug") or name))
        if slug == "other" or any(rule.slug == slug for rule in rules):
            raise ConfigError(f"{key}.slug", f"{slug!r} is taken; give the topic a slug of its own", source)
        rules.append(TopicRule(
            name=name.strip(), slug=slug,
            include=_text_list(table.get("include"), f"{key}.include", source, required=True),
            exclude=_text_list(table.get("exclude", []), f"{key}.exclude", source, required=False),
            formerly=tuple(dict.fromkeys(slugify(old) for old in _text_list(
                table.get("formerly", []), f"{key}.formerly", source, required=False) if slugify(old) != slug)),
        ))
    taken = {rule.slug for rule in rules}
    for number, rule in enumerate(rules, 1):
        clash = taken.intersection(rule.formerly)
        if clash:
            raise ConfigError(f"topics[{number}].formerly", f"{sorted(clash)[0]!r} is the slug of a configured "
                              "topic; formerly names slugs no topic has any more", source)
    return tuple(rules)


def _slug_table(value: Any, name: str, shape: str, source: str) -> list[tuple[str, str, Any]]:
    """A ``[name]`` table keyed by discovered topics' slugs: (its key for errors, slug, value)."""
    if not isinstance(value, dict):
        raise ConfigError(name, f"expected a table of {shape}", source)
    rows = []
    for slug, item in value.items():
        key = f"{name}.{slug}"
        if slugify(slug) != slug or slug == "other":
            raise ConfigError(key, f"not a topic's slug (`paperboy topics list` shows them; {slugify(slug)!r}?)",
                              source)
        rows.append((key, slug, item))
    return rows


def _topic_labels(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    """``[topic_labels]``: a discovered topic's slug, and the label it is to carry for good."""
    pins: list[tuple[str, str]] = []
    for key, slug, label in _slug_table(value, "topic_labels", 'slug = "label"', source):
        if not isinstance(label, str) or not label.strip() or len(label) > 100 \
                or any(not c.isprintable() for c in label):
            raise ConfigError(key, "expected a one-line label of at most 100 characters", source)
        pins.append((slug, label.strip()))
    return tuple(pins)


def _topic_slugs(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    """``[topic_slugs]``: a discovered topic's slug, and the slug it is to carry from now on (the
    old one then an alias: followers move, its feed redirects)."""
    renames: list[tuple[str, str]] = []
    for key, old, new in _slug_table(value, "topic_slugs", 'old-slug = "new-slug"', source):
        if not isinstance(new, str) or slugify(new) != new or new in ("other", old):
            raise ConfigError(key, "expected a new slug: lower-case words joined by hyphens, not 'other'", source)
        renames.append((old, new))
    news = [new for _, new in renames]
    if len(set(news)) != len(news) or set(news) & {old for old, _ in renames}:
        raise ConfigError("topic_slugs", "two topics renamed to one slug, or a rename of a renamed one", source)
    return tuple(renames)


SOURCE_KINDS = ("dump", "feed", "hf-api")


def _sources(value: Any, source: str) -> tuple[SourceSpec, ...]:
    """``[[sources]]`` tables: name, kind (dump, feed, hf-api) and location (a file, a directory
    or an http(s) URL)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("sources", "expected [[sources]] tables", source)
    specs: list[SourceSpec] = []
    for number, table in enumerate(value, 1):
        key = f"sources[{number}]"
        unknown = set(table) - {"name", "kind", "location"}
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown key (name, kind, location)", source)
        name, kind, location = (table.get(k) for k in ("name", "kind", "location"))
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}", name.strip()):
            raise ConfigError(f"{key}.name", "expected a short name (letters, digits, space, . _ -)", source)
        if name.strip() in ("inbox", *(s.name for s in specs)):
            raise ConfigError(f"{key}.name", f"{name.strip()!r} is taken; give each source its own name", source)
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{key}.kind", f"expected one of {', '.join(SOURCE_KINDS)}, got {kind!r}", source)
        if not isinstance(location, str) or not location.strip() or any(c in location for c in "\r\n"):
            raise ConfigError(f"{key}.location", "expected a file, a directory or an http(s) URL", source)
        location = location.strip()
        if "://" in location and not location.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.location",
                              f"only http:// and https:// URLs are fetched, got {redact_url(location)!r}",
                              source)
        specs.append(SourceSpec(name.strip(), kind, location))
    return tuple(specs)
