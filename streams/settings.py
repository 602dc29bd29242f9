"""One frozen settings object, read once from the environment at start and passed down.

Nothing else in oddstream reads ``os.environ``. Tests build settings from an explicit mapping.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streams.sources.registry import BOOKMAKERS

__all__ = ["Settings", "SettingsError"]


def _url_variable(bookmaker: str) -> str:
    return f"ODDSTREAM_{bookmaker.upper()}_URL"


class SettingsError(ValueError):
    """An ``ODDSTREAM_*`` variable has a value oddstream cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be > 0, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything oddstream can be configured with (see the README's configuration table)."""

    kafka_url: str | None = None
    """``kafka://host:port[,host:port]``; None means: use the embedded broker."""
    database_url: str | None = None
    """``postgresql+asyncpg://user@host:5432/db``; None means: use the embedded PostgreSQL."""
    data_dir: Path = Path(".oddstream")
    """Embedded broker/database files and table state."""
    web_port: int = 6066
    """Port of the web views and dashboard."""
    web_host: str = "127.0.0.1"
    """Address the web views bind to."""
    sources: str = "simulated"
    """``simulated`` (local fake bookmakers) or ``live`` (the real sites)."""
    scrape_interval_s: int = 300
    """Scheduled scrape period; 0 turns the schedule off."""
    stale_after_s: int = 600
    """A running scrape whose last heartbeat is older than this is stale."""
    stale_check_interval_s: float = 30.0
    """How often each worker's watchdog scans its runs (detection latency <= threshold + this)."""
    bookmaker_urls: Mapping[str, str] = field(default_factory=dict)
    """Base URL of each bookmaker's API; empty means the default for ``sources``."""
    app_id: str = "oddstream"
    """Faust application id: consumer group and changelog topic prefix."""
    topic_prefix: str = ""
    """Prepended to every topic name (isolates tests and environments sharing one cluster)."""
    topic_partitions: int = 8
    """Partitions of each topic created at start."""
    session_timeout_s: float = 10.0
    """Consumer group session timeout (Tansu makes every join wait half of it)."""
    simulator_events: int = 1300
    """Size of the simulated world."""
    simulator_tick_s: float = 60.0
    """How often the simulated bookmakers move their prices."""
    simulator_seed: int = 7
    """Seed of the simulated world, its latencies and faults."""
    simulator_latency: str = "default"
    """Per-request latency of the simulated bookmakers: ``default``, ``0``, or ``bm=median[:p95]`` in ms."""
    simulator_faults: str = ""
    """Faults of the simulated bookmakers, e.g. ``timeout=0.02,5xx=0.03,malformed=0.01,missing=0.01``."""
    log_level: str = "INFO"
    kafka_replication_factor: int = 1
    """Replicas of each topic oddstream creates (3 on a production cluster)."""
    kafka_acks: str = "all"
    """Producer acks: ``all`` (every in-sync replica), ``1`` or ``0``."""
    kafka_idempotence: str = "auto"
    """Idempotent producers: ``on``, ``off``, or ``auto`` (on when the broker grants producer ids)."""
    kafka_security_protocol: str = "PLAINTEXT"
    """``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``."""
    kafka_sasl_mechanism: str | None = None
    """``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (with a ``SASL_*`` protocol)."""
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    """A secret: never logged (``describe`` masks it, ``repr`` leaves it out)."""
    kafka_ca_file: Path | None = None
    """PEM file of the CA that signed the brokers' certificates; None trusts the system store."""
    web_advertised_host: str | None = None
    """Host other workers reach this one at; None: ``web_host``, or the hostname when binding all addresses."""
    history_retention_days: int = 14
    """Days of ``odds_history`` kept (whole daily partitions dropped); 0 keeps everything."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        sources = env.get("ODDSTREAM_SOURCES", "simulated") or "simulated"
        if sources not in ("simulated", "live"):
            raise SettingsError(f"ODDSTREAM_SOURCES must be 'simulated' or 'live', got {sources!r}")
        urls = {b.name: url for b in BOOKMAKERS if (url := env.get(_url_variable(b.name)))}
        if sources == "live":
            urls = {**{b.name: b.live_url for b in BOOKMAKERS}, **urls}
        return cls(
            kafka_url=env.get("ODDSTREAM_KAFKA_URL") or None,
            database_url=env.get("ODDSTREAM_DATABASE_URL") or None,
            data_dir=Path(env.get("ODDSTREAM_DATA_DIR") or ".oddstream"),
            web_port=_int(env, "ODDSTREAM_WEB_PORT", 6066, minimum=1),
            web_host=env.get("ODDSTREAM_WEB_HOST") or "127.0.0.1",
            sources=sources,
            scrape_interval_s=_int(env, "ODDSTREAM_SCRAPE_INTERVAL_S", 300),
            stale_after_s=(stale := _int(env, "ODDSTREAM_STALE_AFTER_S", 600, minimum=1)),
            stale_check_interval_s=_float(env, "ODDSTREAM_STALE_CHECK_INTERVAL_S", min(30.0, max(stale / 10, 0.5))),
            bookmaker_urls=urls,
            app_id=env.get("ODDSTREAM_APP_ID") or "oddstream",
            topic_prefix=env.get("ODDSTREAM_TOPIC_PREFIX", ""),
            topic_partitions=_int(env, "ODDSTREAM_TOPIC_PARTITIONS", 8, minimum=1),
            session_timeout_s=_float(env, "ODDSTREAM_SESSION_TIMEOUT_S", 10.0),
            simulator_events=_int(env, "ODDSTREAM_SIMULATOR_EVENTS", 1300, minimum=1),
            simulator_tick_s=_float(env, "ODDSTREAM_SIMULATOR_TICK_S", 60.0),
            simulator_seed=_int(env, "ODDSTREAM_SIMULATOR_SEED", 7),
            simulator_latency=env.get("ODDSTREAM_SIMULATOR_LATENCY") or "default",
            simulator_faults=env.get("ODDSTREAM_SIMULATOR_FAULTS", ""),
            log_level=(env.get("ODDSTREAM_LOG_LEVEL") or "INFO").upper(),
            web_advertised_host=env.get("ODDSTREAM_WEB_ADVERTISED_HOST") or None,
            history_retention_days=_int(env, "ODDSTREAM_HISTORY_RETENTION_DAYS", 14),
            **_kafka_from_env(env),
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def kafka_bootstrap(self) -> str:
        """``host:port,host:port`` for aiokafka."""
        if not self.kafka_url:
            raise SettingsError("no Kafka URL: set ODDSTREAM_KAFKA_URL or run `oddstream up`")
        return ",".join(p.strip().removeprefix("kafka://") for p in self.kafka_url.split(",") if p.strip())

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def to_child_env(self) -> dict[str, str]:
        """The environment that makes a child process build these same settings."""
        env = {
            "ODDSTREAM_DATA_DIR": str(self.data_dir),
            "ODDSTREAM_WEB_PORT": str(self.web_port),
            "ODDSTREAM_WEB_HOST": self.web_host,
            "ODDSTREAM_SOURCES": self.sources,
            "ODDSTREAM_SCRAPE_INTERVAL_S": str(self.scrape_interval_s),
            "ODDSTREAM_STALE_AFTER_S": str(self.stale_after_s),
            "ODDSTREAM_STALE_CHECK_INTERVAL_S": str(self.stale_check_interval_s),
            "ODDSTREAM_APP_ID": self.app_id,
            "ODDSTREAM_TOPIC_PREFIX": self.topic_prefix,
            "ODDSTREAM_TOPIC_PARTITIONS": str(self.topic_partitions),
            "ODDSTREAM_SESSION_TIMEOUT_S": str(self.session_timeout_s),
            "ODDSTREAM_SIMULATOR_EVENTS": str(self.simulator_events),
            "ODDSTREAM_SIMULATOR_TICK_S": str(self.simulator_tick_s),
            "ODDSTREAM_SIMULATOR_SEED": str(self.simulator_seed),
            "ODDSTREAM_SIMULATOR_LATENCY": self.simulator_latency,
            "ODDSTREAM_SIMULATOR_FAULTS": self.simulator_faults,
            "ODDSTREAM_LOG_LEVEL": self.log_level,
            "ODDSTREAM_HISTORY_RETENTION_DAYS": str(self.history_retention_days),
        }
        if self.kafka_url:
            env["ODDSTREAM_KAFKA_URL"] = self.kafka_url
        env.update(self._kafka_child_env())
        if self.database_url:
            env["ODDSTREAM_DATABASE_URL"] = self.database_url
        for bm, url in self.bookmaker_urls.items():
            env[_url_variable(bm)] = url
        return env

    def describe(self) -> str:
        """The settings as JSON with the database password masked (for logs)."""
        data = self.to_child_env()
        if self.database_url and "@" in self.database_url:
            head, tail = self.database_url.rsplit("@", 1)
            if ":" in head.split("//", 1)[-1]:
                user = head.split("//", 1)[-1].split(":", 1)[0]
                data["ODDSTREAM_DATABASE_URL"] = f"{head.split('//', 1)[0]}//{user}:***@{tail}"
        if "ODDSTREAM_KAFKA_SASL_PASSWORD" in data:
            data["ODDSTREAM_KAFKA_SASL_PASSWORD"] = "***"
        return json.dumps(data, sort_keys=True)

    @property
    def advertised_host(self) -> str:
        """The host in this worker's URL for other workers (Faust's ``web_host``)."""
        if self.web_advertised_host:
            return self.web_advertised_host
        if self.web_host in ("0.0.0.0", "::", ""):  # bound to every address: advertise the hostname
            return socket.gethostname()
        return self.web_host

    def _kafka_child_env(self) -> dict[str, str]:
        env = {
            "ODDSTREAM_KAFKA_REPLICATION_FACTOR": str(self.kafka_replication_factor),
            "ODDSTREAM_KAFKA_ACKS": self.kafka_acks,
            "ODDSTREAM_KAFKA_IDEMPOTENCE": self.kafka_idempotence,
            "ODDSTREAM_KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
        }
        optional = {
            "ODDSTREAM_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "ODDSTREAM_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "ODDSTREAM_KAFKA_SASL_PASSWORD": self.kafka_sasl_password,
            "ODDSTREAM_KAFKA_CA_FILE": str(self.kafka_ca_file) if self.kafka_ca_file else None,
            "ODDSTREAM_WEB_ADVERTISED_HOST": self.web_advertised_host,
        }
        env.update({k: v for k, v in optional.items() if v})
        return env


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _kafka_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``ODDSTREAM_KAFKA_*`` settings beyond the URL, checked together."""
    protocol = _choice(env, "ODDSTREAM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", _PROTOCOLS)
    acks = _choice(env, "ODDSTREAM_KAFKA_ACKS", "all", ("all", "-1", "1", "0"))
    acks = "all" if acks == "-1" else acks
    idempotence = _choice(env, "ODDSTREAM_KAFKA_IDEMPOTENCE", "auto", ("auto", "on", "off"))
    if idempotence == "on" and acks != "all":
        raise SettingsError("ODDSTREAM_KAFKA_IDEMPOTENCE=on needs ODDSTREAM_KAFKA_ACKS=all")
    mechanism = env.get("ODDSTREAM_KAFKA_SASL_MECHANISM") or None
    username = env.get("ODDSTREAM_KAFKA_SASL_USERNAME") or None
    password = env.get("ODDSTREAM_KAFKA_SASL_PASSWORD") or None
    if protocol.startswith("SASL_"):
        mechanism = _choice(env, "ODDSTREAM_KAFKA_SASL_MECHANISM", "PLAIN", _MECHANISMS)
        if not username or not password:
            raise SettingsError(
                f"ODDSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "ODDSTREAM_KAFKA_SASL_USERNAME and ODDSTREAM_KAFKA_SASL_PASSWORD"
            )
    elif mechanism or username or password:
        raise SettingsError(f"SASL settings are set but ODDSTREAM_KAFKA_SECURITY_PROTOCOL is {protocol}")
    ca_file = env.get("ODDSTREAM_KAFKA_CA_FILE") or None
    if ca_file and not protocol.endswith("SSL"):
        raise SettingsError(f"ODDSTREAM_KAFKA_CA_FILE is set but ODDSTREAM_KAFKA_SECURITY_PROTOCOL is {protocol}")
    return {
        "kafka_replication_factor": _int(env, "ODDSTREAM_KAFKA_REPLICATION_FACTOR", 1, minimum=1),
        "kafka_acks": acks,
        "kafka_idempotence": idempotence,
        "kafka_security_protocol": protocol,
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": username,
        "kafka_sasl_password": password,
        "kafka_ca_file": Path(ca_file) if ca_file else None,
    }
