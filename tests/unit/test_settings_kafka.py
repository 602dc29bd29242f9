"""The Kafka settings beyond the URL: several brokers, replication, acks, idempotence, SASL/TLS."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from streams.kafka import client_options, faust_credentials
from streams.settings import Settings, SettingsError

SASL = {
    "ODDSTREAM_KAFKA_URL": "kafka://b1.example:9093,kafka://b2.example:9093",
    "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "ODDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "ODDSTREAM_KAFKA_SASL_USERNAME": "oddstream",
    "ODDSTREAM_KAFKA_SASL_PASSWORD": "s3cret",
}


@pytest.mark.parametrize(
    ("url", "bootstrap"),
    [
        ("kafka://a:9092", "a:9092"),
        ("kafka://a:9092,kafka://b:9092,kafka://c:9092", "a:9092,b:9092,c:9092"),
        ("kafka://a:9092,b:9092", "a:9092,b:9092"),
        ("kafka://a:9092, kafka://b:9092,", "a:9092,b:9092"),
    ],
)
def test_several_brokers(url: str, bootstrap: str) -> None:
    assert Settings.from_env({"ODDSTREAM_KAFKA_URL": url}).kafka_bootstrap == bootstrap


def test_defaults_are_a_single_plaintext_broker_with_acks_all() -> None:
    s = Settings.from_env({})
    assert (s.kafka_replication_factor, s.kafka_acks, s.kafka_idempotence) == (1, "all", "auto")
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_mechanism is s.kafka_sasl_username is s.kafka_sasl_password is s.kafka_ca_file is None


def test_replication_acks_and_idempotence() -> None:
    s = Settings.from_env(
        {"ODDSTREAM_KAFKA_REPLICATION_FACTOR": "3", "ODDSTREAM_KAFKA_ACKS": "-1", "ODDSTREAM_KAFKA_IDEMPOTENCE": "on"}
    )
    assert (s.kafka_replication_factor, s.kafka_acks, s.kafka_idempotence) == (3, "all", "on")
    assert Settings.from_env({"ODDSTREAM_KAFKA_ACKS": "1"}).kafka_acks == "1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ODDSTREAM_KAFKA_REPLICATION_FACTOR": "0"}, "REPLICATION_FACTOR must be >= 1"),
        ({"ODDSTREAM_KAFKA_REPLICATION_FACTOR": "three"}, "must be an integer"),
        ({"ODDSTREAM_KAFKA_ACKS": "2"}, "ODDSTREAM_KAFKA_ACKS must be one of"),
        ({"ODDSTREAM_KAFKA_IDEMPOTENCE": "yes"}, "ODDSTREAM_KAFKA_IDEMPOTENCE must be one of"),
        ({"ODDSTREAM_KAFKA_IDEMPOTENCE": "on", "ODDSTREAM_KAFKA_ACKS": "1"}, "needs ODDSTREAM_KAFKA_ACKS=all"),
        ({"ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SECURITY_PROTOCOL must be one of"),
        ({**SASL, "ODDSTREAM_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM must be one of"),
        ({**SASL, "ODDSTREAM_KAFKA_SASL_PASSWORD": ""}, "needs ODDSTREAM_KAFKA_SASL_USERNAME and"),
        ({"ODDSTREAM_KAFKA_SASL_USERNAME": "u"}, "SECURITY_PROTOCOL is PLAINTEXT"),
        ({"ODDSTREAM_KAFKA_CA_FILE": "/ca.pem"}, "CA_FILE is set but"),
    ],
)
def test_refuses_what_cannot_work(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_sasl_ssl_reaches_aiokafka_and_faust(tmp_path: Path) -> None:
    s = Settings.from_env(SASL)
    options = client_options(s)
    assert options["bootstrap_servers"] == "b1.example:9093,b2.example:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "oddstream",
        "s3cret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    creds = faust_credentials(s)
    assert creds is not None and creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"


def test_sasl_plaintext_has_no_tls_and_plaintext_no_credentials() -> None:
    s = Settings.from_env({**SASL, "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert "ssl_context" not in client_options(s)
    assert s.kafka_sasl_mechanism == "SCRAM-SHA-512"
    plain = Settings.from_env({"ODDSTREAM_KAFKA_URL": "kafka://a:9092"})
    assert client_options(plain) == {"bootstrap_servers": "a:9092", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(plain) is None


def test_a_missing_ca_file_fails_when_the_context_is_built(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "ODDSTREAM_KAFKA_URL": "kafka://a:9093",
            "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ODDSTREAM_KAFKA_CA_FILE": str(tmp_path / "no"),
        }
    )
    assert s.kafka_ca_file == tmp_path / "no"
    with pytest.raises(FileNotFoundError):
        client_options(s)


def test_children_get_the_same_settings_and_logs_never_the_password() -> None:
    s = Settings.from_env({**SASL, "ODDSTREAM_KAFKA_REPLICATION_FACTOR": "3", "ODDSTREAM_KAFKA_IDEMPOTENCE": "off"})
    assert Settings.from_env(s.to_child_env()) == s
    assert "s3cret" not in s.describe() and "s3cret" not in repr(s)
    assert json.loads(s.describe())["ODDSTREAM_KAFKA_SASL_PASSWORD"] == "***"


def test_advertised_host() -> None:
    assert Settings.from_env({}).advertised_host == "127.0.0.1"
    assert Settings.from_env({"ODDSTREAM_WEB_HOST": "10.0.0.5"}).advertised_host == "10.0.0.5"
    bound_everywhere = Settings.from_env({"ODDSTREAM_WEB_HOST": "0.0.0.0"})
    assert bound_everywhere.advertised_host not in ("0.0.0.0", "")
    named = {"ODDSTREAM_WEB_HOST": "0.0.0.0", "ODDSTREAM_WEB_ADVERTISED_HOST": "worker-1"}
    assert Settings.from_env(named).advertised_host == "worker-1"


def test_the_app_gets_acks_replication_credentials_and_the_idempotent_producer(tmp_path: Path) -> None:
    from oddstream.app import create_app
    from streams.engine import IdempotentProducer

    env = {**SASL, "ODDSTREAM_DATA_DIR": str(tmp_path), "ODDSTREAM_KAFKA_REPLICATION_FACTOR": "3"}
    app = create_app(Settings.from_env({**env, "ODDSTREAM_KAFKA_IDEMPOTENCE": "on"})).app
    assert app.conf.producer_acks == -1 and app.conf.topic_replication_factor == 3
    assert app.conf.broker_credentials.username == "oddstream"
    producer = app.producer
    assert isinstance(producer, IdempotentProducer)
    assert producer._settings_extra() == {"acks": "all", "enable_idempotence": True}
    plain = create_app(
        Settings.from_env({**env, "ODDSTREAM_KAFKA_IDEMPOTENCE": "off", "ODDSTREAM_KAFKA_ACKS": "1"})
    ).app
    assert plain.conf.producer_acks == 1
    assert not isinstance(plain.producer, IdempotentProducer)
