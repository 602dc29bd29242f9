"""The one table of settings (``streams.settings.SETTINGS``): docs, defaults, round trips and the README."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path

import pytest

from streams.settings import SETTINGS, Settings, SettingsError, without_password
from streams.sources.registry import BOOKMAKERS

README = Path(__file__).resolve().parents[2] / "README.md"

EVERYTHING = {
    "ODDSTREAM_KAFKA_URL": "kafka://a:9093,kafka://b:9093",
    "ODDSTREAM_DATABASE_URL": "postgresql+asyncpg://u:pw@db:5432/d",
    "ODDSTREAM_DATA_DIR": "/var/lib/oddstream",
    "ODDSTREAM_EMBEDDED_BROKER": "tansu",
    "ODDSTREAM_WEB_PORT": "7000",
    "ODDSTREAM_WEB_HOST": "0.0.0.0",
    "ODDSTREAM_API_TOKEN": "a-token-of-twenty-chars",
    "ODDSTREAM_CORS_ORIGINS": "https://desk.example.com, http://127.0.0.1:8080/",
    "ODDSTREAM_SOURCES": "live",
    "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
    "ODDSTREAM_STALE_AFTER_S": "120",
    "ODDSTREAM_STALE_CHECK_INTERVAL_S": "2.5",
    "ODDSTREAM_BET9JA_URL": "http://127.0.0.1:9",
    "ODDSTREAM_APP_ID": "odds-test",
    "ODDSTREAM_TOPIC_PREFIX": "t1.",
    "ODDSTREAM_TOPIC_PARTITIONS": "3",
    "ODDSTREAM_SESSION_TIMEOUT_S": "6",
    "ODDSTREAM_SIMULATOR_EVENTS": "40",
    "ODDSTREAM_SIMULATOR_TICK_S": "0.5",
    "ODDSTREAM_SIMULATOR_SEED": "11",
    "ODDSTREAM_SIMULATOR_LATENCY": "0",
    "ODDSTREAM_SIMULATOR_FAULTS": "timeout=0.1",
    "ODDSTREAM_LOG_LEVEL": "debug",
    "ODDSTREAM_KAFKA_REPLICATION_FACTOR": "3",
    "ODDSTREAM_KAFKA_ACKS": "1",
    "ODDSTREAM_KAFKA_IDEMPOTENCE": "off",
    "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ODDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "ODDSTREAM_KAFKA_SASL_USERNAME": "oddstream",
    "ODDSTREAM_KAFKA_SASL_PASSWORD": "s3cret",
    "ODDSTREAM_KAFKA_CA_FILE": "/etc/ca.pem",
    "ODDSTREAM_WEB_ADVERTISED_HOST": "worker-1",
    "ODDSTREAM_HISTORY_RETENTION_DAYS": "30",
    "ODDSTREAM_TRADER_TZ": "Europe/London",
    "ODDSTREAM_STREAM_MAX_CLIENTS": "5",
}
"""Every setting away from its default."""


def _declared() -> set[str]:
    return {name for declared in SETTINGS.values() for name in declared.env_names}


class _Recording(Mapping[str, str]):
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env, self.read = env, set[str]()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.env[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("from_env reads variables by name, never lists the environment")

    def __len__(self) -> int:
        return len(self.env)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return self.env.get(key, default)


def test_every_field_is_declared_once_with_a_one_line_doc() -> None:
    assert list(SETTINGS) == [f.name for f in fields(Settings)]
    names = [name for declared in SETTINGS.values() for name in declared.env_names]
    assert len(names) == len(set(names)), "two settings read the same variable"
    for field_name, declared in SETTINGS.items():
        assert all(name.startswith("ODDSTREAM_") for name in declared.env_names), field_name
        assert declared.doc.strip() and "\n" not in declared.doc, field_name
    assert {f"ODDSTREAM_{b.name.upper()}_URL" for b in BOOKMAKERS} <= set(names)


def test_from_env_reads_exactly_the_declared_variables() -> None:
    for env in ({}, EVERYTHING):
        recording = _Recording(env)
        Settings.from_env(recording)
        assert recording.read == _declared()


def test_the_declared_defaults_are_the_defaults_from_an_empty_environment() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env(dict.fromkeys(_declared(), "")) == Settings()  # empty is unset


@pytest.mark.parametrize(("stale_after", "check_every"), [("100", 10.0), ("1", 0.5), ("600", 30.0), ("9000", 30.0)])
def test_the_stale_check_interval_follows_the_stale_threshold(stale_after: str, check_every: float) -> None:
    assert Settings.from_env({"ODDSTREAM_STALE_AFTER_S": stale_after}).stale_check_interval_s == check_every
    explicit = {"ODDSTREAM_STALE_AFTER_S": stale_after, "ODDSTREAM_STALE_CHECK_INTERVAL_S": "7"}
    assert Settings.from_env(explicit).stale_check_interval_s == 7.0


def test_sasl_defaults_the_mechanism_to_plain() -> None:
    sasl = {
        "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ODDSTREAM_KAFKA_SASL_USERNAME": "u",
        "ODDSTREAM_KAFKA_SASL_PASSWORD": "p",
    }
    assert Settings.from_env(sasl).kafka_sasl_mechanism == "PLAIN"
    assert Settings.from_env({**sasl, "ODDSTREAM_KAFKA_SASL_MECHANISM": ""}).kafka_sasl_mechanism == "PLAIN"


def test_every_setting_away_from_its_default_reaches_a_child() -> None:
    s = Settings.from_env(EVERYTHING)
    assert [name for name in SETTINGS if getattr(s, name) == getattr(Settings(), name)] == []
    assert s.log_level == "DEBUG"
    assert s.bookmaker_urls == {**{b.name: b.live_url for b in BOOKMAKERS}, "bet9ja": "http://127.0.0.1:9"}
    child = s.to_child_env()
    assert set(child) == _declared()
    assert Settings.from_env(child) == s
    assert Settings.from_env(Settings().to_child_env()) == Settings()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:secret@h:5432/d", "postgresql+asyncpg://u:***@h:5432/d"),
        ("postgresql+asyncpg://u@h:5432/d", "postgresql+asyncpg://u@h:5432/d"),
        ("postgresql+asyncpg://h:5432/d", "postgresql+asyncpg://h:5432/d"),
        ("postgresql://u:p@ss@h/d", "postgresql://u:***@h/d"),
        ("u:secret@h/d", "u:***@h/d"),
    ],
)
def test_the_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


def _readme_variables() -> set[str]:
    """The variables of the README's configuration tables (``| variable | default | meaning |``).

    The Configuration section has the main one; the simulator's variables are in the table of the
    section on bookmaker sources and the simulator.
    """
    found: set[str] = set()
    in_table = False
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[:3] == ["variable", "default", "meaning"]:
            in_table = True
        elif in_table:
            found.update(re.findall(r"`(ODDSTREAM_[A-Z0-9_]+)`", cells[0]))
    return found


def test_the_readme_documents_every_variable_the_settings_read() -> None:
    documented = _readme_variables()
    assert "ODDSTREAM_KAFKA_URL" in documented, "no configuration table found in README.md"
    assert sorted(_declared() - documented) == [], "settings the README's configuration tables do not document"
    assert sorted(documented - _declared()) == [], "README rows for variables the settings do not read"


def test_the_api_token_is_a_secret_and_origins_are_normalised() -> None:
    s = Settings.from_env(EVERYTHING)
    assert s.api_token == "a-token-of-twenty-chars"
    assert "a-token-of-twenty-chars" not in repr(s) and "a-token-of-twenty-chars" not in s.describe()
    assert s.to_child_env()["ODDSTREAM_API_TOKEN"] == "a-token-of-twenty-chars"  # children need it
    assert s.cors_origins == "https://desk.example.com,http://127.0.0.1:8080"


@pytest.mark.parametrize("bad", ["desk.example.com", "ftp://x", "https://x/path", "https://"])
def test_an_origin_that_is_not_one_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match="ODDSTREAM_CORS_ORIGINS"):
        Settings.from_env({"ODDSTREAM_CORS_ORIGINS": bad})


def test_the_trader_zone_must_be_one_zoneinfo_knows() -> None:
    assert Settings.from_env({}).trader_tz == "Africa/Lagos"
    with pytest.raises(SettingsError, match="ODDSTREAM_TRADER_TZ"):
        Settings.from_env({"ODDSTREAM_TRADER_TZ": "Mars/Olympus"})
