"""Process helpers shared by the embedded runtimes (Tansu, PostgreSQL, Apache Kafka).

Every child is started in its own session (so it leads a fresh process group), logs to a file,
and is stopped by signalling its whole process group, so no grandchild outlives it. Children
that are still alive when the interpreter exits are stopped by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import structlog

__all__ = [
    "EmbeddedBroker",
    "ManagedProcess",
    "free_port",
    "run_coroutine_blocking",
    "wait_for_kafka",
    "wait_for_tcp",
]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
_POLL_S = 0.05
_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):  # not Linux: atexit and stop() remain
        return None


_PRCTL = _load_prctl()  # loaded before any fork: a preexec_fn should not import


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies.

    A supervisor killed with SIGKILL runs no cleanup; this is what still stops its children.
    """
    prctl = _PRCTL
    if prctl is None:
        return None

    def _set() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return _set


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ManagedProcess:
    """A child process in its own process group, logging to a file, stopped with its whole group.

    ``stop()`` sends ``stop_signal`` (SIGTERM by default) to the group -- or only to the leader when
    ``signal_group`` is false, for servers such as PostgreSQL that shut their children down
    themselves -- waits up to ``timeout`` seconds, then SIGKILLs the group. Any group member left
    behind after the leader exits is SIGKILLed too. ``stop()`` is idempotent and also runs at
    interpreter exit.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        signal_group: bool = True,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.signal_group = signal_group
        self._lock = threading.Lock()
        self._stopped = False
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(int(stop_signal)),
                env=None if env is None else dict(env),
                cwd=cwd,
                user=user,
            )
        except BaseException:
            self._log_file.close()
            raise
        # With start_new_session the child leads its own group: pgid == pid.
        self.pgid = self._popen.pid
        with _LIVE_LOCK:
            _LIVE.add(self)
        log.debug("process.started", name=self.name, pid=self.pid, log=str(log_path))

    @property
    def pid(self) -> int:
        """Pid of the leader process."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit code of the leader, or None while it runs."""
        return self._popen.poll()

    def is_alive(self) -> bool:
        """True while the leader process runs."""
        return self._popen.poll() is None

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` has been called."""
        return self._stopped

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the leader to exit and return its exit code."""
        return self._popen.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the child's log file."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                data = fh.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"
        return "\n".join(data.splitlines()[-lines:])

    def _killpg(self, sig: int) -> bool:
        """Signal the group; False when no member is left."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - pgid reused by a foreign process
            return False
        return True

    def _live_group_members(self) -> bool:
        """True if a process that is not a zombie is still in the group (zombies await reaping by init)."""
        if not self._killpg(0):
            return False
        proc_root = Path("/proc")
        if not proc_root.is_dir():  # pragma: no cover - non-Linux: count zombies as members
            return True
        for entry in proc_root.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and fields[2] == str(self.pgid) and fields[0] not in ("Z", "X"):
                return True
        return False

    def _wait_group_gone(self, timeout: float) -> None:
        """Wait until every process left in the group has exited (zombies count as exited)."""
        deadline = time.monotonic() + timeout
        while self._live_group_members():
            if time.monotonic() >= deadline:
                log.warning("process.group_lingers", name=self.name, pgid=self.pgid)
                return
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process and its whole group; idempotent. Returns the leader's exit code."""
        with self._lock:
            if self._stopped:
                return self._popen.returncode
            self._stopped = True
        with _LIVE_LOCK:
            _LIVE.discard(self)
        try:
            if self._popen.poll() is None:
                if self.signal_group:
                    self._killpg(self.stop_signal)
                else:
                    with contextlib.suppress(ProcessLookupError):
                        self._popen.send_signal(self.stop_signal)
                try:
                    self._popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("process.kill", name=self.name, pid=self.pid, after_s=timeout)
                    self._killpg(signal.SIGKILL)
                    self._popen.wait()
            # Leftover group members (e.g. a grandchild that ignored the stop signal).
            if self._killpg(signal.SIGKILL):
                self._wait_group_gone(2.0)
        finally:
            self._log_file.close()
        log.debug("process.stopped", name=self.name, pid=self.pid, returncode=self._popen.returncode)
        return self._popen.returncode

    def __repr__(self) -> str:
        return f"ManagedProcess(name={self.name!r}, pid={self.pid}, alive={self.is_alive()})"


@atexit.register
def _stop_all_at_exit() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop(timeout=5.0)


def _died_error(what: str, proc: ManagedProcess) -> RuntimeError:
    return RuntimeError(
        f"{proc.name} (pid {proc.pid}) exited with code {proc.returncode} before {what}; "
        f"last lines of {proc.log_path}:\n{proc.log_tail()}"
    )


def _timeout_error(what: str, timeout_s: float, proc: ManagedProcess | None) -> RuntimeError:
    msg = f"timed out after {timeout_s:.1f}s waiting for {what}"
    if proc is not None:
        msg += f"; {proc.name} (pid {proc.pid}) log tail from {proc.log_path}:\n{proc.log_tail()}"
    return RuntimeError(msg)


def wait_for_tcp(host: str, port: int, timeout_s: float, proc: ManagedProcess | None = None) -> None:
    """Poll a TCP connect to ``host:port`` every 50 ms until it succeeds.

    Raises ``RuntimeError`` (with the tail of the child's log) if ``proc`` dies or the timeout passes.
    """
    what = f"tcp://{host}:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and not proc.is_alive():
            raise _died_error(f"{what} accepted connections", proc)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise _timeout_error(what, timeout_s, proc)
        time.sleep(_POLL_S)


def run_coroutine_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion on a private event loop in a worker thread.

    Works whether or not the caller already runs an event loop (it blocks that loop meanwhile).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="oddstream-runtime") as pool:
        return pool.submit(asyncio.run, coro).result()


async def _metadata_once(bootstrap: str, request_timeout_s: float) -> int:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(request_timeout_s * 1000),
        metadata_max_age_ms=1000,
    )
    try:
        await client.bootstrap()
        brokers = client.cluster.brokers()
        return len(brokers)
    finally:
        await client.close()


async def _wait_for_kafka_async(bootstrap: str, timeout_s: float, proc: ManagedProcess | None) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while True:
        if proc is not None and not proc.is_alive():
            raise _died_error(f"{bootstrap} answered a Kafka metadata request", proc)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            err = _timeout_error(f"Kafka metadata from {bootstrap}", timeout_s, proc)
            raise err from last_error
        try:
            n = await asyncio.wait_for(_metadata_once(bootstrap, min(5.0, remaining)), timeout=remaining)
            if n > 0:
                return
            last_error = RuntimeError("metadata lists no brokers yet")
        except Exception as exc:
            last_error = exc
        await asyncio.sleep(0.1)


def wait_for_kafka(bootstrap: str, timeout_s: float, proc: ManagedProcess | None = None) -> None:
    """Block until ``bootstrap`` answers a real Kafka metadata request (via aiokafka) listing a broker.

    First waits for TCP, then bootstraps an ``AIOKafkaClient``. Raises ``RuntimeError`` with the
    child's log tail if ``proc`` dies or the timeout passes.
    """
    host, _, port = bootstrap.rpartition(":")
    start = time.monotonic()
    wait_for_tcp(host, int(port), timeout_s, proc)
    remaining = max(0.5, timeout_s - (time.monotonic() - start))
    run_coroutine_blocking(_wait_for_kafka_async(bootstrap, remaining, proc))


@dataclass(eq=False)
class EmbeddedBroker:
    """A Kafka-compatible broker running as a child process."""

    kind: str
    version: str
    host: str
    port: int
    process: ManagedProcess = field(repr=False)
    work_dir: Path

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port`` (Faust broker URL)."""
        return f"kafka://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """Pid of the broker process."""
        return self.process.pid

    def is_alive(self) -> bool:
        """True while the broker process runs."""
        return self.process.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker and every process in its group; idempotent."""
        if self.process.stopped:
            return
        self.process.stop(timeout)
        log.info("broker.stopped", kind=self.kind, bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
