from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsError


def test_defaults_follow_the_contract() -> None:
    s = Settings.from_env({})
    assert s.kafka_url is None and s.database_url is None
    assert s.data_dir == Path(".oddstream")
    assert (s.web_port, s.sources, s.scrape_interval_s, s.stale_after_s) == (6066, "simulated", 300, 600)
    assert s.bookmaker_urls == {}


def test_live_sources_default_to_the_real_sites_and_urls_override() -> None:
    s = Settings.from_env({"ODDSTREAM_SOURCES": "live", "ODDSTREAM_BET9JA_URL": "http://127.0.0.1:9"})
    assert s.bookmaker_urls["betpawa"] == "https://www.betpawa.ng"
    assert s.bookmaker_urls["bet9ja"] == "http://127.0.0.1:9"


def test_bootstrap_from_several_brokers() -> None:
    s = Settings.from_env({"ODDSTREAM_KAFKA_URL": "kafka://a:9092,kafka://b:9093"})
    assert s.kafka_bootstrap == "a:9092,b:9093"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ODDSTREAM_WEB_PORT", "http"),
        ("ODDSTREAM_SOURCES", "mocked"),
        ("ODDSTREAM_SCRAPE_INTERVAL_S", "-1"),
        ("ODDSTREAM_STALE_AFTER_S", "0"),
    ],
)
def test_bad_values_are_clear_errors(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_settings_are_frozen_and_round_trip_through_a_child_environment() -> None:
    s = Settings.from_env({"ODDSTREAM_KAFKA_URL": "kafka://x:1", "ODDSTREAM_TOPIC_PREFIX": "t1."})
    with pytest.raises(AttributeError):
        s.web_port = 1  # type: ignore[misc]
    assert Settings.from_env(s.to_child_env()) == s


def test_describe_masks_the_password() -> None:
    s = Settings.from_env({"ODDSTREAM_DATABASE_URL": "postgresql+asyncpg://u:secret@h:5432/d"})
    assert "secret" not in s.describe()


def test_no_password_in_repr_or_describe() -> None:
    url = "postgresql+asyncpg://oddstream:db-secret@db:5432/oddstream"
    s = Settings.from_env(
        {
            "ODDSTREAM_DATABASE_URL": url,
            "ODDSTREAM_KAFKA_URL": "kafka://b:9093",
            "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ODDSTREAM_KAFKA_SASL_USERNAME": "oddstream",
            "ODDSTREAM_KAFKA_SASL_PASSWORD": "sasl-secret",
        }
    )
    for shown in (repr(s), str(s), s.describe()):
        assert "db-secret" not in shown and "sasl-secret" not in shown, shown
        assert "postgresql+asyncpg://oddstream:***@db:5432/oddstream" in shown
    assert "kafka_sasl_password='***'" in repr(s)
    # the fields themselves are the real values, for SQLAlchemy, asyncpg and aiokafka
    assert s.database_url == url and s.kafka_sasl_password == "sasl-secret"
    assert s.to_child_env()["ODDSTREAM_DATABASE_URL"] == url
