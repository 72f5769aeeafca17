"""The deployment files, checked as far as this machine allows (it has no Docker engine): the
compose file parses and has the services the README promises, every variable it sets is a real
setting, every command it and the Dockerfile run is a real CLI command, .env.example lists every
setting, and the Dockerfile installs what the README says."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from bot.settings import SPECS
from tests.conftest import ROOT

SETTINGS = {spec.env for spec in SPECS}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def assert_cli_accepts(args: list[str]) -> None:
    """A paperboy command line parses: the command exists and takes these options."""
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, f"`paperboy {' '.join(args)}` is not a command: {result.output}"


def test_the_compose_file_has_the_services_the_readme_promises(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "paperboy", "mailpit", "web"} <= set(services)
    web = services["web"]
    assert web["command"][0] == "serve" and "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["environment"]["PAPERBOY_SECRET_KEY"].startswith("${PAPERBOY_SECRET_KEY:?"), "refuse to start without"
    postgres = services["postgres"]
    assert "healthcheck" in postgres
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "postgres keeps its data in a named volume"
    paperboy = services["paperboy"]
    assert paperboy["command"] == ["run"]
    assert paperboy["depends_on"]["postgres"]["condition"] == "service_healthy"
    mailpit = services["mailpit"]
    assert mailpit["profiles"] == ["dev"]
    assert sorted(mailpit["ports"]) == ["127.0.0.1:1025:1025", "127.0.0.1:8025:8025"]
    env = paperboy["environment"]
    assert env["PAPERBOY_SMTP_HOST"].endswith(":-mailpit}") and env["PAPERBOY_SMTP_PORT"].endswith(":-1025}")
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port} would be open to the network"


def test_every_variable_the_compose_file_sets_is_a_setting(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("PAPERBOY_"):
                assert variable in SETTINGS, f"{name} sets {variable}, which is no setting"
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in re.findall(r"\$\{(PAPERBOY_\w+)", text):
        assert variable in SETTINGS, variable


def test_every_command_the_deployment_runs_is_a_real_command(compose: dict[str, Any]) -> None:
    instructions = dockerfile()
    entrypoint = [args for op, args in instructions if op == "ENTRYPOINT"]
    assert entrypoint and yaml.safe_load(entrypoint[-1]) == ["paperboy"]
    command = [yaml.safe_load(args) for op, args in instructions if op == "CMD"][-1]
    assert command == ["run"]
    assert_cli_accepts(command)
    health = next(args for op, args in instructions if op == "HEALTHCHECK")
    check = yaml.safe_load(health.split("CMD", 1)[1].strip())
    assert check[0] == "paperboy"
    assert_cli_accepts(check[1:])
    for name, service in compose["services"].items():
        if "entrypoint" in service:
            program = service["entrypoint"]
            assert program[:2] == ["python", "-m"], name
            assert importlib.util.find_spec(program[2]) is not None, f"{name} runs a module that does not exist"
        elif "command" in service and name != "mailpit":
            assert_cli_accepts(list(service["command"]))


def test_the_dockerfile_is_slim_runs_as_a_user_and_installs_the_package() -> None:
    instructions = dockerfile()
    assert instructions[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim\S*", instructions[0][1])
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "pip install --no-cache-dir ." in runs
    copied = {shlex.split(args)[0] for op, args in instructions if op == "COPY"}
    assert {"bot", "templates", "config", "pyproject.toml"} <= copied
    for op, args in instructions:
        if op == "ENV":
            for variable in re.findall(r"(PAPERBOY_\w+)=", args):
                assert variable in SETTINGS, variable
    readme = (ROOT / "README.md").read_text()
    assert "docker compose up -d" in readme and "paperboy run" in readme


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(PAPERBOY_\w+)=", text, flags=re.MULTILINE))
    assert listed == SETTINGS, f"missing: {sorted(SETTINGS - listed)}; unknown: {sorted(listed - SETTINGS)}"
    assert "POSTGRES_PASSWORD=" in text


def test_the_example_env_file_loads(tmp_path: Path) -> None:
    """Uncommented as it stands, the example is a valid configuration."""
    from bot.settings import load_settings

    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith(("PAPERBOY_", "# PAPERBOY_")):
            name, _, value = line.lstrip("# ").partition("=")
            env[name] = value
    settings = load_settings(env=env)
    assert settings.smtp_host == "mailpit" and settings.database_url.startswith("postgresql+psycopg://")
