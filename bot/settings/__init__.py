"""Settings: defaults < the TOML file < ``PAPERBOY_*`` variables < explicit overrides.

Every setting is declared once in :data:`SPECS` with its TOML key, its variable, its default and
its check, so the loader, the documentation test and the example config cannot drift apart.
Secrets are read from the environment only: a config file gets copied, committed and mailed.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.models import SourceSpec, TopicRule
from bot.models.channels import ChannelSpec
from bot.settings.channels import channels as _channels
from bot.settings.checks import (
    _address,
    _bool,
    _choice,
    _clock_time,
    _database_url,
    _days,
    _duration,
    _float_between,
    _hosts,
    _http_url,
    _http_url_or_off,
    _int_between,
    _networks,
    _nonempty,
    _path,
    _text,
    _timezone,
    show_duration,
)
from bot.settings.tables import _sources, _topic_labels, _topic_slugs, _topics

__all__ = ["ENV_PREFIX", "SPECS", "Settings", "Spec", "load_settings", "show_duration"]

ENV_PREFIX = "PAPERBOY_"


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    toml: tuple[str, ...]
    default: Any
    check: Callable[[Any], Any]
    doc: str
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def toml_key(self) -> str:
        return ".".join(self.toml)


SPECS: tuple[Spec, ...] = (
    Spec("database_url", ("database_url",), "sqlite:///data/paperboy.db", _database_url,
         "SQLite file (embedded default) or postgresql+psycopg://user@host/db"),
    Spec("inbox", ("inbox",), Path("data/inbox"), _path,
         "directory of Daily Papers dumps that `paperboy ingest` reads by default"),
    Spec("outbox", ("outbox",), Path("data/outbox"), _path,
         "Maildir that receives mail when no SMTP host is configured"),
    Spec("public_dir", ("public_dir",), Path("data/public"), _path,
         "where the feeds and the static archive are written"),
    Spec("base_url", ("base_url",), "http://localhost:8000/", _http_url,
         "public URL of the feeds, archive and web front, used in links"),
    Spec("secret_key", ("secret_key",), None, _nonempty,
         "signs subscription links; environment only", secret=True),
    Spec("mail_from", ("mail", "from"), "paperboy@localhost", _address,
         "sender address of the digest"),
    Spec("smtp_host", ("smtp", "host"), "", _text,
         "SMTP server; empty delivers to the outbox Maildir instead"),
    Spec("smtp_port", ("smtp", "port"), 587, _int_between(1, 65535), "SMTP port"),
    Spec("smtp_tls", ("smtp", "tls"), "starttls", _choice("none", "starttls", "tls"),
         "none, starttls or tls (implicit TLS, usually port 465)"),
    Spec("smtp_user", ("smtp", "user"), "", _text, "SMTP login; empty for none"),
    Spec("smtp_password", ("smtp", "password"), None, _nonempty,
         "SMTP password; environment only", secret=True),
    Spec("smtp_timeout", ("smtp", "timeout"), 30, _int_between(1, 600),
         "seconds one message's whole SMTP conversation may take (connecting included; at most half "
         "of delivery.lease_seconds) before it is retried later"),
    Spec("delivery_concurrency", ("delivery", "concurrency"), 4, _int_between(1, 64),
         "SMTP connections used at once, one sender thread each"),
    Spec("delivery_rate_limit", ("delivery", "rate_limit"), 0.0, _float_between(0, 100_000),
         "at most this many messages per second over all connections; 0 for no limit"),
    Spec("delivery_max_attempts", ("delivery", "max_attempts"), 8, _int_between(1, 100),
         "tries per message before a temporary failure (4xx, connection) counts as failed"),
    Spec("delivery_retry_seconds", ("delivery", "retry_seconds"), 60.0, _float_between(0, 86_400),
         "wait before the first retry; each further retry waits twice as long"),
    Spec("delivery_wait_seconds", ("delivery", "wait_seconds"), 300.0, _float_between(0, 86_400),
         "`paperboy send` waits for retries due within this many seconds; later ones wait for the next run"),
    Spec("delivery_lease_seconds", ("delivery", "lease_seconds"), 120.0, _float_between(1, 86_400),
         "a claimed message whose sender died is sent again after this many seconds "
         "(at once when it died on this host); renewed while its sender lives"),
    Spec("delivery_uncertain_retry_seconds", ("delivery", "uncertain_retry_seconds"), 900.0,
         _float_between(0, 86_400),
         "a message whose server dropped the connection after taking all of it is sent once more, "
         "this many seconds later"),
    Spec("delivery_bounce_after", ("delivery", "bounce_after"), 3, _int_between(1, 100),
         "permanent failures (5xx) in a row after which a subscriber is marked bounced"),
    Spec("schedule_time", ("schedule", "time"), "07:00", _clock_time,
         "local time (HH:MM) at which the day's edition is due"),
    Spec("schedule_timezone", ("schedule", "timezone"), "UTC", _timezone,
         "the IANA time zone of schedule.time; its dates name the editions"),
    Spec("schedule_days", ("schedule", "days"), "daily", _days,
         "days with an edition: daily, weekdays, weekends, or names such as mon-fri or mon,wed,fri"),
    Spec("schedule_max_lateness", ("schedule", "max_lateness"), "6h",
         _duration(dt.timedelta(0), dt.timedelta(days=7)),
         "an edition not sent this long after its time is recorded as missed, never sent late"),
    Spec("schedule_interval", ("schedule", "interval"), "5m",
         _duration(dt.timedelta(seconds=10), dt.timedelta(days=1)),
         "how often `paperboy run` reconciles: ingest, build what is due, send, write the feeds"),
    Spec("health_stale_after", ("health", "stale_after"), "36h",
         _duration(dt.timedelta(minutes=1), dt.timedelta(days=365)),
         "no new dump for this long makes the health verdict stale"),
    Spec("health_max_failed_percent", ("health", "max_failed_percent"), 10.0, _float_between(0, 100),
         "more failed deliveries than this percent of the last edition's makes the verdict failing"),
    Spec("ingest_max_file_mb", ("ingest", "max_file_mb"), 512, _int_between(1, 100_000),
         "dumps larger than this many MiB are refused"),
    Spec("fetch_timeout", ("fetch", "timeout"), 30.0, _float_between(1, 600),
         "seconds to wait for a source over HTTP before it counts as failing this time"),
    Spec("fetch_max_mb", ("fetch", "max_mb"), 50, _int_between(1, 10_000),
         "a source's answer larger than this many MiB (decompressed) is refused"),
    Spec("fetch_deadline", ("fetch", "deadline"), 60.0, _float_between(1, 3600),
         "seconds a whole fetch may take, redirects included, however steadily the server drips"),
    Spec("fetch_allow_redirect_hosts", ("fetch", "allow_redirect_hosts"), (), _hosts,
         "hosts (host, host:port or *.domain) a source may redirect to besides its own scheme, host "
         "and port; comma-separated in the variable"),
    Spec("web_trusted_proxies", ("web", "trusted_proxies"), (), _networks,
         "addresses or networks of reverse proxies whose X-Forwarded-For is believed; every other "
         "client is counted by its own address"),
    Spec("digest_climbing_min_upvotes", ("digest", "climbing_min_upvotes"), 10, _int_between(1, 1_000_000),
         "a paper seen before enters Climbing when its upvotes rose by this much since the last edition"),
    Spec("digest_empty_editions", ("digest", "empty_editions"), False, _bool,
         "build an edition even on a day with nothing new"),
    Spec("digest_email_top_n", ("digest", "email_top_n"), 5, _int_between(1, 1000),
         "when an edition is too big for one email (102 KB), show this many papers per topic"),
    Spec("feeds_max_entries", ("feeds", "max_entries"), 500, _int_between(1, 1_000_000),
         "newest entries per feed (the archive pages keep everything)"),
    Spec("feeds_digest_editions", ("feeds", "digest_editions"), 30, _int_between(1, 10_000),
         "newest editions in digest.xml, one entry each"),
    Spec("feeds_digest_max_kb", ("feeds", "digest_max_kb"), 1024, _int_between(64, 1_000_000),
         "digest.xml's size limit in KiB: its oldest editions are left out until it fits (the newest always stays)"),
    Spec("summaries_url", ("summaries", "url"), "", _http_url_or_off,
         "an OpenAI-compatible API (its base URL, e.g. https://api.openai.com/v1/) that writes each paper's TL;DR "
         "where the source gave none; empty (the default) keeps paperboy's own key sentences"),
    Spec("summaries_model", ("summaries", "model"), "gpt-4o-mini", _nonempty, "the model asked for summaries"),
    Spec("summaries_api_key", ("summaries", "api_key"), None, _nonempty,
         "the summaries API's key (sent as a bearer token); environment only", secret=True),
    Spec("summaries_timeout", ("summaries", "timeout"), 20, _int_between(1, 600),
         "seconds all of an edition's summaries may take; what is not back by then keeps its key sentences"),
    Spec("summaries_max_papers", ("summaries", "max_papers"), 100, _int_between(1, 10_000),
         "at most this many papers an edition asks the model about"),
    Spec("templates_dir", ("templates_dir",), None, _path,
         "a directory whose templates override the bundled ones (same names)"),
    Spec("grouping_min_size", ("grouping", "min_size"), 3, _int_between(1, 1000),
         "discovered groups smaller than this fold into Other"),
    Spec("grouping_max_share", ("grouping", "max_share"), 35, _int_between(5, 100),
         "a discovered group holding more than this percent of the papers is split"),
    Spec("grouping_max_groups", ("grouping", "max_groups"), 12, _int_between(2, 50),
         "at most this many discovered groups a day"),
    Spec("grouping_retire_days", ("grouping", "retire_days"), 60, _int_between(1, 3650),
         "a discovered topic without a paper for this many days is retired (a candidate after 14)"),
)


_DEFAULT = {spec.name: spec.check(spec.default) if isinstance(spec.default, str) else spec.default
            for spec in SPECS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, loaded once per process and passed to the stages."""

    database_url: str = _DEFAULT["database_url"]
    inbox: Path = _DEFAULT["inbox"]
    outbox: Path = _DEFAULT["outbox"]
    public_dir: Path = _DEFAULT["public_dir"]
    base_url: str = _DEFAULT["base_url"]
    secret_key: str | None = None
    mail_from: str = _DEFAULT["mail_from"]
    smtp_host: str = _DEFAULT["smtp_host"]
    smtp_port: int = _DEFAULT["smtp_port"]
    smtp_tls: str = _DEFAULT["smtp_tls"]
    smtp_user: str = _DEFAULT["smtp_user"]
    smtp_password: str | None = None
    smtp_timeout: int = _DEFAULT["smtp_timeout"]
    delivery_concurrency: int = _DEFAULT["delivery_concurrency"]
    delivery_rate_limit: float = _DEFAULT["delivery_rate_limit"]
    delivery_max_attempts: int = _DEFAULT["delivery_max_attempts"]
    delivery_retry_seconds: float = _DEFAULT["delivery_retry_seconds"]
    delivery_wait_seconds: float = _DEFAULT["delivery_wait_seconds"]
    delivery_lease_seconds: float = _DEFAULT["delivery_lease_seconds"]
    delivery_bounce_after: int = _DEFAULT["delivery_bounce_after"]
    delivery_uncertain_retry_seconds: float = _DEFAULT["delivery_uncertain_retry_seconds"]
    ingest_max_file_mb: int = _DEFAULT["ingest_max_file_mb"]
    schedule_time: dt.time = _DEFAULT["schedule_time"]
    schedule_timezone: str = _DEFAULT["schedule_timezone"]
    schedule_days: tuple[int, ...] = _DEFAULT["schedule_days"]
    schedule_max_lateness: dt.timedelta = _DEFAULT["schedule_max_lateness"]
    schedule_interval: dt.timedelta = _DEFAULT["schedule_interval"]
    health_stale_after: dt.timedelta = _DEFAULT["health_stale_after"]
    health_max_failed_percent: float = _DEFAULT["health_max_failed_percent"]
    digest_climbing_min_upvotes: int = _DEFAULT["digest_climbing_min_upvotes"]
    digest_empty_editions: bool = _DEFAULT["digest_empty_editions"]
    digest_email_top_n: int = _DEFAULT["digest_email_top_n"]
    feeds_max_entries: int = _DEFAULT["feeds_max_entries"]
    feeds_digest_editions: int = _DEFAULT["feeds_digest_editions"]
    feeds_digest_max_kb: int = _DEFAULT["feeds_digest_max_kb"]
    summaries_url: str = _DEFAULT["summaries_url"]
    summaries_model: str = _DEFAULT["summaries_model"]
    summaries_api_key: str | None = None
    summaries_timeout: int = _DEFAULT["summaries_timeout"]
    summaries_max_papers: int = _DEFAULT["summaries_max_papers"]
    templates_dir: Path | None = None
    grouping_min_size: int = _DEFAULT["grouping_min_size"]
    grouping_max_share: int = _DEFAULT["grouping_max_share"]
    grouping_max_groups: int = _DEFAULT["grouping_max_groups"]
    grouping_retire_days: int = _DEFAULT["grouping_retire_days"]
    fetch_timeout: float = _DEFAULT["fetch_timeout"]
    fetch_max_mb: int = _DEFAULT["fetch_max_mb"]
    fetch_deadline: float = _DEFAULT["fetch_deadline"]
    fetch_allow_redirect_hosts: tuple[str, ...] = ()
    web_trusted_proxies: tuple[str, ...] = ()
    topics: tuple[TopicRule, ...] = ()
    topic_labels: tuple[tuple[str, str], ...] = ()
    """``[topic_labels]``: (slug, label) pairs an operator pinned on discovered topics."""
    topic_slugs: tuple[tuple[str, str], ...] = ()
    """``[topic_slugs]``: (old, new) slugs an operator gave discovered topics."""
    sources: tuple[SourceSpec, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    config_file: Path | None = None

    def __repr__(self) -> str:
        shown = {
            f.name: ("***" if _is_secret(f.name) and getattr(self, f.name) else getattr(self, f.name))
            for f in fields(self)
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _is_secret(name: str) -> bool:
    return any(spec.secret for spec in SPECS if spec.name == name)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("config", "file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"cannot be read ({exc})", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"is not valid TOML: {exc}", str(path)) from None


def _from_file(data: Mapping[str, Any], source: str, env: Mapping[str, str]) -> dict[str, Any]:
    by_path = {spec.toml: spec for spec in SPECS}
    sections = {spec.toml[0] for spec in SPECS if len(spec.toml) > 1}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "topics":
            values["topics"] = _topics(value, source)
            continue
        if key == "sources":
            values["sources"] = _sources(value, source)
            continue
        if key == "channels":
            values["channels"] = _channels(value, source, env)
            continue
        if key == "topic_labels":
            values["topic_labels"] = _topic_labels(value, source)
            continue
        if key == "topic_slugs":
            values["topic_slugs"] = _topic_slugs(value, source)
            continue
        if key in sections and isinstance(value, dict):
            items: list[tuple[tuple[str, ...], Any]] = [((key, sub), sub_value) for sub, sub_value in value.items()]
        else:
            items = [((key,), value)]
        for path, item in items:
            spec = by_path.get(path)
            dotted = ".".join(path)
            if spec is None:
                raise ConfigError(dotted, "unknown setting (see config/paperboy.toml)", source)
            if spec.secret:
                raise ConfigError(dotted, f"is a secret: set {spec.env} in the environment", source)
            values[spec.name] = _checked(spec, item, dotted, source)
    return values


def _checked(spec: Spec, value: Any, key: str, source: str) -> Any:
    try:
        return spec.check(value)
    except ValueError as exc:
        raise ConfigError(key, str(exc), source) from None


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings for this process.

    ``config_file`` falls back to ``PAPERBOY_CONFIG``; without either, only defaults and the
    environment apply. Overrides (from command-line options) win over everything and are
    checked like the rest.
    """
    env = os.environ if env is None else env
    path_text = config_file or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    path: Path | None = None
    if path_text:
        path = Path(path_text).expanduser()
        values.update(_from_file(_read_toml(path), str(path), env))
    for spec in SPECS:
        raw = env.get(spec.env)
        # An empty variable (docker compose writes `VAR=`) leaves a setting without a default unset.
        if raw is not None and (raw.strip() or not (spec.secret or spec.default is None)):
            values[spec.name] = _checked(spec, raw, spec.env, "the environment")
    specs = {spec.name: spec for spec in SPECS}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in specs:
            raise TypeError(f"unknown setting override {name!r}")
        values[name] = _checked(specs[name], value, name, "the command line")
    return Settings(**values, config_file=path)
