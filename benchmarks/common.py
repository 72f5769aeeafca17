"""What the benchmark scripts share: a fresh PostgreSQL schema, and an environment without the
caller's PAPERBOY_* settings."""

from __future__ import annotations

import os
from pathlib import Path


def reset_schema(url: str) -> None:
    """Empty PostgreSQL's public schema (SQLite files are fresh by path)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def clean_env(**settings: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}, **settings}


def fresh_database(url: str | None, work: Path, name: str) -> str:
    """An empty database: a SQLite file in ``work``, or on PostgreSQL (``url``) a schema
    ``bench_<name>`` in it, replaced."""
    if url:
        from urllib.parse import quote

        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "bench_{name}" CASCADE; CREATE SCHEMA "bench_{name}"'))
        engine.dispose()
        return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path=bench_{name}')}"
    for leftover in work.glob(f"{name}.db*"):
        leftover.unlink()
    return f"sqlite:///{work / name}.db"
