"""The ``paperboy`` command: thin shells over the stages.

This is the one place where errors become exit codes: 0 when everything worked, 1 when some
input or the database failed, 2 for a usage or configuration error. Every failure is one line
on stderr (a database error too, never its SQL); ``-v`` adds the traceback of an unexpected
one. Output piped into a reader that stops early (``| head``) ends quietly.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from bot import __version__
from bot.app import Paperboy
from bot.errors import ConfigError, PaperboyError
from bot.redact import printable
from bot.services.service import problem
from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.store import Database


@dataclass
class App:
    """What the global options chose; settings and database are made on first use, once."""

    config: str | None
    database_url: str | None
    verbose: int
    _settings: Settings | None = field(default=None, init=False)
    _paperboy: Paperboy | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config, database_url=self.database_url)
        return self._settings

    @property
    def paperboy(self) -> Paperboy:
        """The composition root (``bot.app``), built once from the settings."""
        if self._paperboy is None:
            self._paperboy = Paperboy(self.settings)
        return self._paperboy

    @property
    def database(self) -> Database:
        return self.paperboy.database


def _quiet_pipe() -> NoReturn:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush is
    silent too (Python's documented recipe), and end without a word."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"paperboy: {message}", err=True)
    sys.exit(code)


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(f"configuration error: {exc}", 2)
        except PaperboyError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            _quiet_pipe()
        except SQLAlchemyError as exc:
            if ctx.obj is not None and ctx.obj.verbose:
                raise
            _fail(f"database error: {problem(exc)}", 1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.obj is not None and ctx.obj.verbose:
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)", 1)


def shown(text: str) -> str:
    """Untrusted text (titles, addresses, server replies, file names) in a rich table: no markup
    of its own, no terminal escapes."""
    return escape(printable(text))


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH", envvar="PAPERBOY_CONFIG",
              help="TOML config file (default: $PAPERBOY_CONFIG; without one, defaults and PAPERBOY_* apply).")
@click.option("--database-url", metavar="URL", help="Database to use, overriding the config.")
@click.option("-v", "--verbose", count=True, help="Log more; -v also shows tracebacks of internal errors.")
@click.version_option(__version__, prog_name="paperboy")
@click.pass_context
def main(ctx: click.Context, config: str | None, database_url: str | None, verbose: int) -> None:
    """paperboy: a daily digest of trending research papers."""
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = App(config=config, database_url=database_url, verbose=verbose)
    ctx.call_on_close(lambda: ctx.obj._paperboy.close() if ctx.obj._paperboy else None)


def _register() -> None:
    """Import the command modules, each of which adds its commands to :func:`main`."""
    from bot.cli import editions, mail, papers, service  # noqa: F401


_register()
