"""``[[channels]]``: where an edition is posted besides the mail (Slack, Discord, Matrix,
Telegram, a signed JSON webhook), each with the topics routed to it.

A channel's credential never sits in the file: Slack's and Discord's webhook URLs, Matrix's and
Telegram's tokens and the webhook's signing key come from ``PAPERBOY_CHANNEL_<NAME>_URL``,
``_TOKEN`` and ``_SECRET``, named after the channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError
from bot.identity import slugify
from bot.models.channels import CHANNEL_KINDS, ChannelKind, ChannelSpec

TELEGRAM_API = "https://api.telegram.org"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_KEYS: dict[str, set[str]] = {
    "slack": set(), "discord": set(), "webhook": {"url"}, "matrix": {"url", "room"}, "telegram": {"url", "chat"},
}
_SECRET_URL = {"slack", "discord"}  # the webhook URL is the credential


def channel_env(name: str, what: str) -> str:
    """The variable that holds channel ``name``'s ``what`` (URL, TOKEN, SECRET)."""
    return f"PAPERBOY_CHANNEL_{name.upper().replace('-', '_')}_{what}"


def _url(value: Any, key: str, source: str) -> str:
    """An http(s) URL, named in errors by its key only: it may carry a credential."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        fine = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(
            c.isspace() or c in "<>\"'" for c in text)
    except ValueError:
        fine = False
    if not fine:
        raise ConfigError(key, "expected an http:// or https:// URL", source)
    return text


def _one_line(value: Any, key: str, source: str, pattern: str, shape: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not re.fullmatch(pattern, str(value).strip()):
        raise ConfigError(key, f"expected {shape}", source)
    return str(value).strip()


def _topics(value: Any, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(key, "expected a list of topic slugs (`paperboy topics list` shows them)", source)
    return tuple(dict.fromkeys(slugify(v) for v in value))


def channels(value: Any, source: str, env: Mapping[str, str]) -> tuple[ChannelSpec, ...]:
    """``[[channels]]`` tables: name, kind, topics, and what the kind needs (see the module)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("channels", "expected [[channels]] tables", source)
    specs: list[ChannelSpec] = []
    for number, table in enumerate(value, 1):
        key = f"channels[{number}]"
        kind = table.get("kind")
        if kind not in CHANNEL_KINDS:
            raise ConfigError(f"{key}.kind", f"expected one of {', '.join(CHANNEL_KINDS)}, got {kind!r}", source)
        allowed = {"name", "kind", "topics", "per_topic", *_KEYS[kind]}
        for extra in sorted(set(table) - allowed):
            if extra == "url" and kind in _SECRET_URL:
                raise ConfigError(f"{key}.url", f"a {kind} webhook URL is a secret: set "
                                  f"{channel_env(str(table.get('name', 'NAME')), 'URL')} in the environment", source)
            raise ConfigError(f"{key}.{extra}", f"unknown key ({', '.join(sorted(allowed))})", source)
        name = _one_line(table.get("name"), f"{key}.name", source, _NAME.pattern,
                         "a short name of lower-case letters, digits and hyphens")
        if any(spec.name == name for spec in specs):
            raise ConfigError(f"{key}.name", f"{name!r} is taken; give each channel its own name", source)
        specs.append(_spec(kind, name, table, key, source, env))
    return tuple(specs)


def _secret(env: Mapping[str, str], name: str, what: str, key: str, source: str, needed: str) -> str:
    variable = channel_env(name, what)
    value = env.get(variable, "").strip()
    if not value:
        raise ConfigError(key, f"set {variable} in the environment to the {needed}", source)
    return value


def _spec(kind: ChannelKind, name: str, table: dict[str, Any], key: str, source: str,
          env: Mapping[str, str]) -> ChannelSpec:
    topics = _topics(table.get("topics", []), f"{key}.topics", source)
    per_topic = table.get("per_topic", 0 if kind == "webhook" else 5)
    if not isinstance(per_topic, int) or isinstance(per_topic, bool) or not 0 <= per_topic <= 100:
        raise ConfigError(f"{key}.per_topic", "expected the papers shown per topic, 0 (all) to 100", source)
    from_env = env.get(channel_env(name, "URL"), "").strip()
    if kind in _SECRET_URL:
        url = _url(_secret(env, name, "URL", key, source, f"{kind} webhook URL"), channel_env(name, "URL"), source)
        return ChannelSpec(name, kind, url, topics=topics, per_topic=per_topic)
    if kind == "webhook":
        if not (from_env or table.get("url")):
            raise ConfigError(f"{key}.url", f"expected the webhook's URL (or set {channel_env(name, 'URL')})", source)
        url = _url(from_env or table.get("url"), channel_env(name, "URL") if from_env else f"{key}.url", source)
        return ChannelSpec(name, kind, url, _secret(env, name, "SECRET", key, source, "webhook's signing key"),
                           topics=topics, per_topic=per_topic)
    if kind == "matrix":
        if not (from_env or table.get("url")):
            raise ConfigError(f"{key}.url", "expected the homeserver's URL, such as https://matrix.org", source)
        url = _url(from_env or table.get("url"), f"{key}.url", source).rstrip("/")
        room = _one_line(table.get("room"), f"{key}.room", source, r"[!#][^\s:]+:[^\s]+",
                         "a room id (!abc:example.org) or alias (#papers:example.org)")
        return ChannelSpec(name, kind, url, _secret(env, name, "TOKEN", key, source, "Matrix access token"),
                           room, topics, per_topic)
    url = _url(from_env or table.get("url", TELEGRAM_API), f"{key}.url", source).rstrip("/")
    chat = _one_line(table.get("chat"), f"{key}.chat", source, r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20}",
                     "a chat id (-1001234567890) or a public channel's @username")
    token = _secret(env, name, "TOKEN", key, source, "Telegram bot token")
    if not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}", token):
        raise ConfigError(channel_env(name, "TOKEN"), "expected a bot token as BotFather gives it (123456:ABC…)",
                          source)
    return ChannelSpec(name, kind, url, token, chat, topics, per_topic)
