"""Settings: precedence, validation with one-line errors, and that every setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import SPECS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_embedded_and_offline() -> None:
    settings = load_settings(env={})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.smtp_host == "" and settings.secret_key is None
    assert settings == Settings()


def test_the_example_config_loads_and_equals_the_defaults() -> None:
    settings = load_settings(ROOT / "config" / "paperboy.toml", env={})
    assert settings == Settings(config_file=ROOT / "config" / "paperboy.toml")


def test_precedence_file_then_environment_then_override(tmp_path: Path) -> None:
    config = tmp_path / "paperboy.toml"
    config.write_text('inbox = "from-file"\n[smtp]\nport = 2525\nhost = "mail.example.org"\n')
    settings = load_settings(config, env={"PAPERBOY_SMTP_PORT": "465", "PAPERBOY_SMTP_TLS": "TLS"},
                             inbox="from-override")
    assert settings.smtp_port == 465 and settings.smtp_tls == "tls"
    assert settings.smtp_host == "mail.example.org"
    assert settings.inbox == Path("from-override")


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('base_url = "https://papers.example.org"\n')
    settings = load_settings(env={"PAPERBOY_CONFIG": str(config)})
    assert settings.base_url == "https://papers.example.org/"


@pytest.mark.parametrize(("body", "message"), [
    ("[smtp]\nport = 70000\n", "smtp.port in {file}: expected a number from 1 to 65535, got 70000"),
    ('[smtp]\ntls = "maybe"\n', "smtp.tls in {file}: expected one of none, starttls, tls, got 'maybe'"),
    ('database_url = "mysql://x/y"\n', "database_url in {file}: expected sqlite:///PATH or postgresql"),
    ('base_url = "ftp://x"\n', "base_url in {file}: expected an http:// or https:// URL"),
    ('inbx = "typo"\n', "inbx in {file}: unknown setting"),
    ('secret_key = "s3cret"\n', "secret_key in {file}: is a secret: set PAPERBOY_SECRET_KEY"),
    ('[mail]\nfrom = "a@b\\r\\nBcc: x@y"\n', "mail.from in {file}: expected an email address"),
    ("inbox = [\n", "config in {file}: is not valid TOML"),
    ("[grouping]\nmax_share = 2\n", "grouping.max_share in {file}: expected a number from 5 to 100"),
    ('[[topics]]\ninclude = ["x"]\n', "topics[1].name in {file}: expected a one-line name"),
    ('[[topics]]\nname = "A"\n', "topics[1].include in {file}: expected a list of non-empty strings"),
    ('[[topics]]\nname = "A"\ninclude = []\n', "topics[1].include in {file}: must list at least one phrase"),
    ('[[topics]]\nname = "A"\ninclude = ["a"]\nexclude = [1]\n', "topics[1].exclude in {file}: expected a list"),
    ('[[topics]]\nname = "A"\ninclude = ["a"]\ncolour = "red"\n', "topics[1].colour in {file}: unknown key"),
    ('[[topics]]\nname = "A b"\ninclude = ["a"]\n[[topics]]\nname = "a-B"\ninclude = ["b"]\n',
     "topics[2].slug in {file}: 'a-b' is taken"),
    ('[[topics]]\nname = "Other"\ninclude = ["a"]\n', "topics[1].slug in {file}: 'other' is taken"),
    ("topics = 3\n", "topics in {file}: expected [[topics]] tables"),
    ('topic_labels = "x"\n', "topic_labels in {file}: expected a table"),
    ('[topic_labels]\n"Not A Slug" = "X"\n', "topic_labels.Not A Slug in {file}: not a topic's slug"),
    ("[topic_labels]\nrobots = 3\n", "topic_labels.robots in {file}: expected a one-line label"),
    ('[topic_labels]\nrobots = "a\\nb"\n', "topic_labels.robots in {file}: expected a one-line label"),
    ('[topic_slugs]\nrobots = "Not A Slug"\n', "topic_slugs.robots in {file}: expected a new slug"),
    ('[topic_slugs]\nrobots = "other"\n', "topic_slugs.robots in {file}: expected a new slug"),
    ('[topic_slugs]\nrobots = "bots"\nspeech = "bots"\n', "topic_slugs in {file}: two topics renamed to one"),
])
def test_bad_settings_name_the_key_and_the_file(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "paperboy.toml"
    config.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert str(caught.value).startswith(message.format(file=config))
    assert "\n" not in str(caught.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="PAPERBOY_SMTP_PORT in the environment: expected a whole number"):
        load_settings(env={"PAPERBOY_SMTP_PORT": "abc"})


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match=r"config in /nonexistent\.toml: file not found"):
        load_settings("/nonexistent.toml", env={})


def test_secrets_come_from_the_environment_and_are_not_shown() -> None:
    settings = load_settings(env={"PAPERBOY_SECRET_KEY": "k" * 32, "PAPERBOY_SMTP_PASSWORD": "pw"})
    assert settings.secret_key == "k" * 32 and settings.smtp_password == "pw"
    assert "k" * 32 not in repr(settings) and "pw'" not in repr(settings)


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert load_settings(env={"PAPERBOY_DATABASE_URL": "postgres://u@h/db"}).database_url == \
        "postgresql+psycopg://u@h/db"


def test_every_setting_is_documented_in_the_example_config_and_readme() -> None:
    example = (ROOT / "config" / "paperboy.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    for spec in SPECS:
        assert spec.env in example, spec.env
        assert spec.env in readme, spec.env
        assert f"`{spec.toml_key}`" in readme, spec.toml_key
        if not spec.secret:
            assert f"{spec.toml[-1]} =" in example, spec.toml_key


def test_configured_topics_are_read_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "paperboy.toml"
    config.write_text('[[topics]]\nname = "Reward models · RLHF"\ninclude = ["reward model", "RLHF"]\n'
                      '[[topics]]\nname = "Agents"\nslug = "agents"\ninclude = "agent"\nexclude = ["survey"]\n')
    settings = load_settings(config, env={})
    assert [(t.name, t.slug, t.include, t.exclude) for t in settings.topics] == [
        ("Reward models · RLHF", "reward-models-rlhf", ("reward model", "RLHF"), ()),
        ("Agents", "agents", ("agent",), ("survey",)),
    ]


def test_pinned_topic_labels_are_read(tmp_path: Path) -> None:
    config = tmp_path / "paperboy.toml"
    config.write_text('[topic_labels]\nlong-context-agents = " Long-Context Agents "\n')
    assert load_settings(config, env={}).topic_labels == (("long-context-agents", "Long-Context Agents"),)
