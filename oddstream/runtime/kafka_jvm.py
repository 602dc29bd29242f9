"""Local Apache Kafka (single KRaft broker+controller) on the JDK, from Maven Central artifacts.

Jars are resolved once with Maven into a cache (``$ODDSTREAM_KAFKA_CACHE`` or
``~/.cache/oddstream/kafka``), then each broker gets its own work dir (config, KRaft logs, log file).

CLI::

    python -m oddstream.runtime.kafka_jvm resolve   # fetch the jars (CI cache step)
    python -m oddstream.runtime.kafka_jvm run       # start a broker, print its bootstrap, stop on Ctrl-C
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import structlog

from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess, free_port, wait_for_kafka

__all__ = [
    "KAFKA_KIND",
    "KAFKA_VERSION",
    "SLF4J_VERSION",
    "EmbeddedBroker",
    "default_cache_dir",
    "java_and_maven_available",
    "kafka_cluster_id",
    "main",
    "resolve_jars",
    "start_kafka",
]

log = structlog.get_logger(__name__)

KAFKA_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"
KAFKA_KIND = "apache-kafka"
_MARKER = ".complete"
_JVM_OPTS = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>oddstream</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>{slf4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
"""


def java_and_maven_available() -> bool:
    """True when both ``java`` and ``mvn`` are on ``PATH``."""
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def default_cache_dir() -> Path:
    """``$ODDSTREAM_KAFKA_CACHE`` or ``~/.cache/oddstream/kafka``."""
    env = os.environ.get("ODDSTREAM_KAFKA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "oddstream" / "kafka"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def resolve_jars(cache_dir: Path | None = None, version: str = KAFKA_VERSION) -> Path:
    """Resolve ``kafka_2.13:<version>`` and its runtime dependencies into ``<cache_dir>/<version>/lib``.

    Skips Maven when the completion marker exists. Safe against concurrent callers (file lock).
    Returns the ``lib`` directory.
    """
    base = (cache_dir or default_cache_dir()).expanduser().resolve() / version
    lib = base / "lib"
    marker = base / _MARKER
    if marker.is_file():
        return lib
    with _file_lock(base / ".lock"):
        if marker.is_file():
            return lib
        if shutil.which("mvn") is None:
            raise RuntimeError("mvn not found on PATH: cannot resolve Apache Kafka jars")
        (base / "pom.xml").write_text(_POM.format(kafka=version, slf4j=SLF4J_VERSION))
        if lib.exists():
            shutil.rmtree(lib)
        t0 = time.monotonic()
        log.info("kafka.resolve.start", version=version, dir=str(base))
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(base / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(cmd, cwd=base, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(lib.glob(f"kafka_2.13-{version}.jar")):
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise RuntimeError(f"mvn failed to resolve Kafka {version} (exit {result.returncode}):\n{tail}")
        marker.write_text(f"{datetime.now(UTC).isoformat()}\n")
        log.info("kafka.resolve.done", version=version, seconds=round(time.monotonic() - t0, 1))
    return lib


def kafka_cluster_id() -> str:
    """A Kafka-style cluster id: 16 random bytes, base64url without padding, not starting with '-'."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-") and raw != bytes(16):
            return text


def _server_properties(work_dir: Path, host: str, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(work_dir / "kraft-logs"),
        "num.partitions": "8",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "8",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _java_cmd(lib: Path, log4j: Path, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found on PATH: cannot run Apache Kafka")
    return [java, *_JVM_OPTS, f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{lib}/*", *args]


def start_kafka(
    work_dir: Path,
    version: str = KAFKA_VERSION,
    cache_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 90.0,
) -> EmbeddedBroker:
    """Start a single combined KRaft broker+controller on free loopback ports under ``work_dir``.

    Resolves jars first if needed (``resolve_jars``), formats fresh storage, and blocks until aiokafka
    gets metadata listing the broker. ``work_dir`` gets ``server.properties``, ``log4j.properties``,
    ``kraft-logs/``, ``kafka.log`` (WARN and above) and ``kafka.out`` (stdout/stderr).
    """
    t0 = time.monotonic()
    lib = resolve_jars(cache_dir, version)
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir = work_dir.resolve()
    port, controller_port = free_port(host), free_port(host)
    while controller_port == port:
        controller_port = free_port(host)
    props = work_dir / "server.properties"
    props.write_text(_server_properties(work_dir, host, port, controller_port))
    log4j = work_dir / "log4j.properties"
    log4j.write_text(_LOG4J.format(path=work_dir / "kafka.log"))
    fmt = subprocess.run(
        _java_cmd(lib, log4j, "kafka.tools.StorageTool", "format", "-t", kafka_cluster_id(), "-c", str(props)),
        capture_output=True,
        text=True,
        check=False,
    )
    if fmt.returncode != 0:
        raise RuntimeError(f"kafka StorageTool format failed (exit {fmt.returncode}):\n{fmt.stdout}{fmt.stderr}")
    t_format = time.monotonic() - t0
    proc = ManagedProcess(
        _java_cmd(lib, log4j, "kafka.Kafka", str(props)),
        log_path=work_dir / "kafka.out",
        name="kafka",
        cwd=work_dir,
    )
    broker = EmbeddedBroker(kind=KAFKA_KIND, version=version, host=host, port=port, process=proc, work_dir=work_dir)
    try:
        wait_for_kafka(broker.bootstrap, timeout_s, proc)
    except BaseException:
        proc.stop()
        raise
    log.info(
        "kafka.started",
        bootstrap=broker.bootstrap,
        pid=proc.pid,
        version=version,
        format_seconds=round(t_format, 2),
        seconds=round(time.monotonic() - t0, 2),
    )
    return broker


def main(argv: list[str] | None = None) -> int:
    """``resolve`` the jars, or ``run`` a broker until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m oddstream.runtime.kafka_jvm", description=__doc__)
    parser.add_argument("command", choices=["resolve", "run"])
    parser.add_argument("--version", default=KAFKA_VERSION)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a fresh temp dir")
    args = parser.parse_args(argv)
    # Logs to stderr so stdout carries only the result (the lib dir, or the bootstrap address).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    if args.command == "resolve":
        lib = resolve_jars(args.cache_dir, args.version)
        sys.stdout.write(f"{lib}\n")
        return 0
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="oddstream-kafka-"))
    broker = start_kafka(work_dir, args.version, args.cache_dir)
    done = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sys.stdout.write(f"{broker.bootstrap}\n")
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            if not broker.is_alive():
                log.error("kafka.died", log_tail=broker.process.log_tail())
                return 1
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
