"""One frozen settings object, read once from the environment at start and passed down.

This module owns oddstream's configuration. Each field of ``Settings`` is declared once, with
``setting(env, parse, default, doc)``: the ``ODDSTREAM_*`` variable it is read from, the parser that
checks the variable's value, the default when the variable is unset or empty, and its meaning.
``SETTINGS`` collects those declarations; ``Settings.from_env``, ``to_child_env``, ``describe`` and
``repr`` are derived from it, and secrets (the SASL password, the database URL's password) are
masked wherever settings are shown. Nothing else in oddstream reads ``os.environ``. Tests build
settings from an explicit mapping.
"""

from __future__ import annotations

import json
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.sources.registry import BOOKMAKERS

__all__ = ["SETTINGS", "Setting", "Settings", "SettingsError"]

T = TypeVar("T")

Parse = Callable[[str, str], T]
"""``parse(name, raw)``: the value of the non-empty variable ``name``; raises ``SettingsError``."""


class SettingsError(ValueError):
    """An ``ODDSTREAM_*`` variable has a value oddstream cannot use."""


# ---- parsers ----------------------------------------------------------------------------------


def text(name: str, raw: str) -> str:
    return raw


def uppercase(name: str, raw: str) -> str:
    return raw.upper()


def path(name: str, raw: str) -> Path:
    return Path(raw)


def integer(minimum: int = 0) -> Parse[int]:
    """An integer ``>= minimum``."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
        if value < minimum:
            raise SettingsError(f"{name} must be >= {minimum}, got {value}")
        return value

    return parse


def positive(name: str, raw: str) -> float:
    """A number ``> 0``."""
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be > 0, got {value}")
    return value


def token(name: str, raw: str) -> str:
    """A bearer token: at least 16 characters, none of them white space or a control character."""
    if len(raw) < 16:
        raise SettingsError(f"{name} must be at least 16 characters long")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise SettingsError(f"{name} must not contain white space or control characters")
    return raw


def origins(name: str, raw: str) -> str:
    """Comma-separated web origins (``scheme://host[:port]``) or ``*``; kept as one normalised string."""
    listed = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    for origin in listed:
        scheme, sep, host = origin.partition("://")
        if origin != "*" and (not sep or scheme not in ("http", "https") or not host or "/" in host):
            raise SettingsError(f"{name} must list origins like https://desk.example.com or *, got {origin!r}")
    return ",".join(listed)


def choice(*allowed: str, aliases: Mapping[str, str] | None = None) -> Parse[str]:
    """One of ``allowed``; an allowed value found in ``aliases`` is read as the value it names."""
    expected = f"{allowed[0]!r} or {allowed[1]!r}" if len(allowed) == 2 else f"one of {', '.join(allowed)}"

    def parse(name: str, raw: str) -> str:
        if raw not in allowed:
            raise SettingsError(f"{name} must be {expected}, got {raw!r}")
        return (aliases or {}).get(raw, raw)

    return parse


def time_zone(name: str, raw: str) -> str:
    """An IANA time zone name zoneinfo knows (``Africa/Lagos``)."""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{name} must be an IANA time zone such as Africa/Lagos, got {raw!r}") from exc
    return raw


# ---- masks ------------------------------------------------------------------------------------


def hidden(value: str) -> str:
    return "***"


def without_password(url: str) -> str:
    """``scheme://user:***@host/db`` for ``scheme://user:password@host/db``; a URL without a password as is.

    Everything before the last ``@`` but the user name is masked, so a password that is not
    percent-encoded is hidden too (at worst with a bit of the host).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, location = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{location}"


# ---- the declarations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting(ABC, Generic[T]):
    """How one field of ``Settings`` is read from the environment, handed on and shown."""

    env: str
    """The variable."""
    default: T
    """The value when the variable is unset or empty (and the field's default)."""
    doc: str
    """What the setting means, one line (the README's configuration table says it at length)."""
    secret: Callable[[str], str] | None = None
    """The mask of a value that must never be shown (``repr``, ``describe``)."""

    @property
    def env_names(self) -> tuple[str, ...]:
        return (self.env,)

    @abstractmethod
    def read(self, environ: Mapping[str, str], earlier: Mapping[str, Any]) -> T:
        """The value in ``environ``; ``earlier`` holds the settings declared (and read) before."""

    def write(self, value: T) -> dict[str, str]:
        """The variables that ``read`` turns back into ``value``: none for None."""
        return {} if value is None else {self.env: str(value)}

    def shown(self, value: T) -> object:
        """``value``, or its mask when it is a secret."""
        return value if self.secret is None or value is None else self.secret(str(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable(Setting[T]):
    """A setting read from one variable by ``parse``."""

    parse: Parse[T]
    """Checks and converts the variable's value when it is set and not empty."""
    derive: Callable[[Mapping[str, Any]], T] | None = None
    """Instead of ``default`` in ``from_env``: the default computed from the settings read before."""

    def read(self, environ: Mapping[str, str], earlier: Mapping[str, Any]) -> T:
        raw = environ.get(self.env)
        if not raw:
            return self.derive(earlier) if self.derive is not None else self.default
        return self.parse(self.env, raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookmakerUrls(Setting[Mapping[str, str]]):
    """One variable per bookmaker of the registry: ``env`` with ``{NAME}`` replaced by its name.

    With ``sources`` ``live``, every bookmaker without a URL of its own gets its live site.
    """

    def variable(self, bookmaker: str) -> str:
        return self.env.replace("{NAME}", bookmaker.upper())

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(self.variable(b.name) for b in BOOKMAKERS)

    def read(self, environ: Mapping[str, str], earlier: Mapping[str, Any]) -> Mapping[str, str]:
        urls = {b.name: url for b in BOOKMAKERS if (url := environ.get(self.variable(b.name)))}
        if earlier["sources"] == "live":
            urls = {**{b.name: b.live_url for b in BOOKMAKERS}, **urls}
        return urls

    def write(self, value: Mapping[str, str]) -> dict[str, str]:
        return {self.variable(bookmaker): url for bookmaker, url in value.items()}


_SETTING: Final = "setting"
"""The key of a field's ``Setting`` in its metadata."""


def setting(
    env: str,
    parse: Parse[T],
    default: T,
    doc: str,
    *,
    derive: Callable[[Mapping[str, Any]], T] | None = None,
    secret: Callable[[str], str] | None = None,
) -> T:
    """A field of ``Settings`` read from ``env`` by ``parse``, ``default`` when unset (see ``Variable``).

    It returns a ``dataclasses.field``, which ruff's RUF009 cannot see: fields of a mutable-looking
    type (``Path``) say ``noqa: RUF009``.
    """
    declared = Variable(env=env, parse=parse, default=default, doc=doc, derive=derive, secret=secret)
    return field(default=default, metadata={_SETTING: declared})


def urls_per_bookmaker(env: str, doc: str) -> Mapping[str, str]:
    """The field of the bookmakers' URLs (see ``BookmakerUrls``); empty by default."""
    return field(default_factory=dict, metadata={_SETTING: BookmakerUrls(env=env, default={}, doc=doc)})


def _a_tenth_of_stale_after(earlier: Mapping[str, Any]) -> float:
    stale_after_s: int = earlier["stale_after_s"]
    return min(30.0, max(stale_after_s / 10, 0.5))


def _plain_with_sasl(earlier: Mapping[str, Any]) -> str | None:
    protocol: str = earlier["kafka_security_protocol"]
    return "PLAIN" if protocol.startswith("SASL_") else None


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Everything oddstream can be configured with (see the README's configuration table)."""

    kafka_url: str | None = setting(
        "ODDSTREAM_KAFKA_URL", text, None, "``kafka://host:port[,host:port]``; None means: use the embedded broker."
    )
    database_url: str | None = setting(
        "ODDSTREAM_DATABASE_URL",
        text,
        None,
        "``postgresql+asyncpg://user:password@host:5432/db``; None means: use the embedded PostgreSQL.",
        secret=without_password,
    )
    embedded_broker: str = setting(
        "ODDSTREAM_EMBEDDED_BROKER",
        choice("auto", "kafka", "tansu"),
        "auto",
        "The broker ``oddstream up`` runs when no Kafka URL is set: ``kafka`` (Apache Kafka on the JVM, its"
        " log kept under the data dir), ``tansu`` (memory only, restart keeps nothing), or ``auto`` (Kafka"
        " when a Java runtime can be had, else Tansu).",
    )
    data_dir: Path = setting(  # noqa: RUF009
        "ODDSTREAM_DATA_DIR", path, Path(".oddstream"), "Embedded broker/database files and table state."
    )
    web_port: int = setting("ODDSTREAM_WEB_PORT", integer(minimum=1), 6066, "Port of the web views and dashboard.")
    web_host: str = setting("ODDSTREAM_WEB_HOST", text, "127.0.0.1", "Address the web views bind to.")
    api_token: str | None = setting(
        "ODDSTREAM_API_TOKEN",
        token,
        None,
        "When set, every mutating route requires ``Authorization: Bearer <token>`` (401 without it); a secret.",
        secret=hidden,
    )
    cors_origins: str = setting(
        "ODDSTREAM_CORS_ORIGINS",
        origins,
        "",
        "Comma-separated origins other web pages may call the API from (``*``: any); empty: CORS closed.",
    )
    sources: str = setting(
        "ODDSTREAM_SOURCES",
        choice("simulated", "live"),
        "simulated",
        "``simulated`` (local fake bookmakers) or ``live`` (the real sites).",
    )
    scrape_interval_s: int = setting(
        "ODDSTREAM_SCRAPE_INTERVAL_S", integer(), 300, "Scheduled scrape period; 0 turns the schedule off."
    )
    stale_after_s: int = setting(
        "ODDSTREAM_STALE_AFTER_S",
        integer(minimum=1),
        600,
        "A running scrape whose last heartbeat is older than this is stale.",
    )
    stale_check_interval_s: float = setting(
        "ODDSTREAM_STALE_CHECK_INTERVAL_S",
        positive,
        30.0,
        "How often each worker's watchdog scans its runs (detection latency <= threshold + this);"
        " from the environment it defaults to min(30, max(stale_after_s / 10, 0.5)).",
        derive=_a_tenth_of_stale_after,
    )
    bookmaker_urls: Mapping[str, str] = urls_per_bookmaker(
        "ODDSTREAM_{NAME}_URL", "Base URL of each bookmaker's API; empty means the default for ``sources``."
    )
    app_id: str = setting(
        "ODDSTREAM_APP_ID", text, "oddstream", "Faust application id: consumer group and changelog topic prefix."
    )
    topic_prefix: str = setting(
        "ODDSTREAM_TOPIC_PREFIX",
        text,
        "",
        "Prepended to every topic name (isolates tests and environments sharing one cluster).",
    )
    topic_partitions: int = setting(
        "ODDSTREAM_TOPIC_PARTITIONS", integer(minimum=1), 8, "Partitions of each topic created at start."
    )
    session_timeout_s: float = setting(
        "ODDSTREAM_SESSION_TIMEOUT_S",
        positive,
        10.0,
        "Consumer group session timeout (Tansu makes every join wait half of it).",
    )
    simulator_events: int = setting(
        "ODDSTREAM_SIMULATOR_EVENTS", integer(minimum=1), 1300, "Size of the simulated world."
    )
    simulator_tick_s: float = setting(
        "ODDSTREAM_SIMULATOR_TICK_S", positive, 60.0, "How often the simulated bookmakers move their prices."
    )
    simulator_seed: int = setting(
        "ODDSTREAM_SIMULATOR_SEED", integer(), 7, "Seed of the simulated world, its latencies and faults."
    )
    simulator_latency: str = setting(
        "ODDSTREAM_SIMULATOR_LATENCY",
        text,
        "default",
        "Per-request latency of the simulated bookmakers: ``default``, ``0``, or ``bm=median[:p95]`` in ms.",
    )
    simulator_faults: str = setting(
        "ODDSTREAM_SIMULATOR_FAULTS",
        text,
        "",
        "Faults of the simulated bookmakers, e.g. ``timeout=0.02,5xx=0.03,malformed=0.01,missing=0.01``.",
    )
    log_level: str = setting(
        "ODDSTREAM_LOG_LEVEL", uppercase, "INFO", "Level of the logs (``DEBUG``, ``INFO``, ...; any case)."
    )
    kafka_replication_factor: int = setting(
        "ODDSTREAM_KAFKA_REPLICATION_FACTOR",
        integer(minimum=1),
        1,
        "Replicas of each topic oddstream creates (3 on a production cluster).",
    )
    kafka_acks: str = setting(
        "ODDSTREAM_KAFKA_ACKS",
        choice("all", "-1", "1", "0", aliases={"-1": "all"}),
        "all",
        "Producer acks: ``all`` (every in-sync replica; ``-1`` is read as ``all``), ``1`` or ``0``.",
    )
    kafka_idempotence: str = setting(
        "ODDSTREAM_KAFKA_IDEMPOTENCE",
        choice("auto", "on", "off"),
        "auto",
        "Idempotent producers: ``on``, ``off``, or ``auto`` (on when the broker grants producer ids).",
    )
    kafka_security_protocol: str = setting(
        "ODDSTREAM_KAFKA_SECURITY_PROTOCOL",
        choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "PLAINTEXT",
        "``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.",
    )
    kafka_sasl_mechanism: str | None = setting(
        "ODDSTREAM_KAFKA_SASL_MECHANISM",
        choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        None,
        "``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (with a ``SASL_*`` protocol, which defaults it to PLAIN).",
        derive=_plain_with_sasl,
    )
    kafka_sasl_username: str | None = setting(
        "ODDSTREAM_KAFKA_SASL_USERNAME", text, None, "SASL user name (required with a ``SASL_*`` protocol)."
    )
    kafka_sasl_password: str | None = setting(
        "ODDSTREAM_KAFKA_SASL_PASSWORD",
        text,
        None,
        "SASL password (required with a ``SASL_*`` protocol); a secret, masked in ``repr`` and ``describe``.",
        secret=hidden,
    )
    kafka_ca_file: Path | None = setting(  # noqa: RUF009
        "ODDSTREAM_KAFKA_CA_FILE",
        path,
        None,
        "PEM file of the CA that signed the brokers' certificates; None trusts the system store.",
    )
    web_advertised_host: str | None = setting(
        "ODDSTREAM_WEB_ADVERTISED_HOST",
        text,
        None,
        "Host other workers reach this one at; None: ``web_host``, or the hostname when binding all addresses.",
    )
    history_retention_days: int = setting(
        "ODDSTREAM_HISTORY_RETENTION_DAYS",
        integer(),
        14,
        "Days of ``odds_history`` kept (whole daily partitions dropped); 0 keeps everything.",
    )
    trader_tz: str = setting(
        "ODDSTREAM_TRADER_TZ",
        time_zone,
        "Africa/Lagos",
        "The trading team's time zone: the days of the events list's kickoff presets (today, weekend).",
    )
    stream_max_clients: int = setting(
        "ODDSTREAM_STREAM_MAX_CLIENTS",
        integer(minimum=1),
        50,
        "Open ``GET /odds/stream`` connections one worker serves at once (each reads the topic); more get 503.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, declared in SETTINGS.items():  # in field order: a derived default sees the fields before it
            values[name] = declared.read(env, values)
        settings = cls(**values)
        _check_kafka(settings)
        return settings

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
        return self._variables(masked=False)

    def describe(self) -> str:
        """The settings as JSON variables, secrets masked (for logs)."""
        return json.dumps(self._variables(masked=True), sort_keys=True)

    def __repr__(self) -> str:
        shown = (f"{name}={declared.shown(getattr(self, name))!r}" for name, declared in SETTINGS.items())
        return f"Settings({', '.join(shown)})"

    @property
    def advertised_host(self) -> str:
        """The host in this worker's URL for other workers (Faust's ``web_host``)."""
        if self.web_advertised_host:
            return self.web_advertised_host
        if self.web_host in ("0.0.0.0", "::", ""):  # bound to every address: advertise the hostname
            return socket.gethostname()
        return self.web_host

    def _variables(self, *, masked: bool) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, declared in SETTINGS.items():
            written = declared.write(getattr(self, name))
            if masked and declared.secret is not None:
                written = {var: declared.secret(value) for var, value in written.items()}
            env.update(written)
        return env


SETTINGS: Final[Mapping[str, Setting[Any]]] = {f.name: f.metadata[_SETTING] for f in fields(Settings)}
"""Every field of ``Settings`` by name, with its declaration, in field order."""


def _check_kafka(settings: Settings) -> None:
    """The ``ODDSTREAM_KAFKA_*`` settings that only work together."""
    protocol = settings.kafka_security_protocol
    if settings.kafka_idempotence == "on" and settings.kafka_acks != "all":
        raise SettingsError("ODDSTREAM_KAFKA_IDEMPOTENCE=on needs ODDSTREAM_KAFKA_ACKS=all")
    credentials = (settings.kafka_sasl_username, settings.kafka_sasl_password)
    if protocol.startswith("SASL_"):
        if not all(credentials):
            raise SettingsError(
                f"ODDSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "ODDSTREAM_KAFKA_SASL_USERNAME and ODDSTREAM_KAFKA_SASL_PASSWORD"
            )
    elif settings.kafka_sasl_mechanism or any(credentials):
        raise SettingsError(f"SASL settings are set but ODDSTREAM_KAFKA_SECURITY_PROTOCOL is {protocol}")
    if settings.kafka_ca_file and not protocol.endswith("SSL"):
        raise SettingsError(f"ODDSTREAM_KAFKA_CA_FILE is set but ODDSTREAM_KAFKA_SECURITY_PROTOCOL is {protocol}")
