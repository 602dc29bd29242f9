"""Embedded runtimes for development and tests: Tansu, Apache Kafka on the JDK, PostgreSQL.

Names are imported lazily so ``python -m oddstream.runtime.kafka_jvm`` does not import itself twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oddstream.runtime.kafka_jvm import KAFKA_VERSION, java_and_maven_available, resolve_jars, start_kafka
    from oddstream.runtime.postgres import EmbeddedDatabase, start_postgres
    from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess, free_port, wait_for_kafka, wait_for_tcp
    from oddstream.runtime.tansu import start_tansu

__all__ = [
    "KAFKA_VERSION",
    "EmbeddedBroker",
    "EmbeddedDatabase",
    "ManagedProcess",
    "free_port",
    "java_and_maven_available",
    "resolve_jars",
    "start_kafka",
    "start_postgres",
    "start_tansu",
    "wait_for_kafka",
    "wait_for_tcp",
]

_WHERE = {
    "KAFKA_VERSION": "kafka_jvm",
    "java_and_maven_available": "kafka_jvm",
    "resolve_jars": "kafka_jvm",
    "start_kafka": "kafka_jvm",
    "EmbeddedDatabase": "postgres",
    "start_postgres": "postgres",
    "EmbeddedBroker": "procs",
    "ManagedProcess": "procs",
    "free_port": "procs",
    "wait_for_kafka": "procs",
    "wait_for_tcp": "procs",
    "start_tansu": "tansu",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
