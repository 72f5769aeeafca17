"""Shared fixtures: a fresh database per test (SQLite file, or a PostgreSQL schema), settings, the CLI.

Set PAPERBOY_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run the whole
suite against PostgreSQL; each test then gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from bot.cli import main
from bot.settings import Settings, load_settings
from bot.store import Database, open_database
from tests.smtp_server import Recorder, SmtpServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples" / "hf-daily-papers"
PG_URL = os.environ.get("PAPERBOY_TEST_DATABASE_URL")


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared samples are not beside the project ({SAMPLES} is absent)")
    return SAMPLES


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'paperboy.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(env={}, database_url=database_url, inbox=str(tmp_path / "inbox"))


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = open_database(settings.database_url)
    yield database
    database.close()


class Cli:
    """Runs ``paperboy`` in-process against the test's database."""

    def __init__(self, database_url: str, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.env = env

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, ["--database-url", self.database_url, *args],
                             env={**self.env, **(env or {})}, catch_exceptions=False)

    def json(self, *args: str) -> object:
        result = self(*args, "--json")
        return json.loads(result.stdout)


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    clean = {key: None for key in os.environ if key.startswith("PAPERBOY_")}
    return Cli(database_url, {**clean, "PAPERBOY_INBOX": str(tmp_path / "inbox")})  # type: ignore[dict-item]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd) that records what it accepts."""
    server = SmtpServer(Recorder()).start()
    yield server
    server.stop()


def run_paperboy(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run paperboy as a real process (``python -m bot``), as an operator would."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=timeout)
