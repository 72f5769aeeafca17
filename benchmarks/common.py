"""What the benchmark scripts share: a fresh PostgreSQL schema, and an environment without the
caller's PAPERBOY_* settings."""

from __future__ import annotations

import os


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
