"""The README documents every command and every option of it, as datasette's tests hold its docs
to its CLI: a new option that is not in the README fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest

from bot.cli import main
from tests.conftest import ROOT
from tests.golden import check_golden

README = (ROOT / "README.md").read_text()


def commands(group: click.Group, prefix: str = "paperboy") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path, command


COMMANDS = list(commands(main))


def signature(path: str) -> str:
    """The README's backticked synopsis of a command: "`paperboy digest build [--date …]`"."""
    found = re.findall(rf"`{re.escape(path)}(?:\s[^`]*)?`", README)
    return " ".join(found)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_in_the_readme(path: str, command: click.Command) -> None:
    synopsis = signature(path)
    assert synopsis, f"README.md does not show `{path} …`"
    for parameter in command.params:
        if isinstance(parameter, click.Option) and not parameter.hidden:
            longest = max(parameter.opts, key=len)
            assert re.search(rf"{re.escape(longest)}\b", synopsis), f"README.md's `{path}` lacks {longest}"


def test_the_global_options_are_in_the_readme() -> None:
    for parameter in main.params:
        if isinstance(parameter, click.Option):
            assert max(parameter.opts, key=len) in README, parameter.opts


def test_a_missing_golden_file_fails() -> None:
    with pytest.raises(AssertionError, match="is missing"):
        check_golden("never/written.txt", "anything")
