"""Unit tests for oddstream.runtime.procs: ports, TCP waits, process-group lifecycle."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _group_members(pgid: int) -> list[int]:
    members = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _wait_children(pid: int, n: int, timeout_s: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kids = psutil.Process(pid).children(recursive=True)
        if len(kids) >= n:
            return kids
        time.sleep(0.02)
    raise AssertionError(f"expected {n} children of {pid}")


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_tcp_succeeds_when_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        wait_for_tcp("127.0.0.1", s.getsockname()[1], timeout_s=1.0)


def test_wait_for_tcp_times_out_with_clear_error() -> None:
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"timed out after 0\.3s waiting for tcp://127\.0\.0\.1:{port}"):
        wait_for_tcp("127.0.0.1", port, timeout_s=0.3)
    assert time.monotonic() - t0 < 2.0


def test_wait_for_tcp_reports_dead_child_with_log_tail(tmp_path: Path) -> None:
    proc = ManagedProcess(["sh", "-c", "echo boom-from-child; exit 3"], log_path=tmp_path / "c.log")
    try:
        with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*boom-from-child"):
            wait_for_tcp("127.0.0.1", free_port(), timeout_s=10.0, proc=proc)
    finally:
        proc.stop()


def test_stop_kills_whole_group_and_is_idempotent(tmp_path: Path) -> None:
    proc = ManagedProcess(["sh", "-c", "sleep 60 & sleep 60"], log_path=tmp_path / "s.log")
    kids = _wait_children(proc.pid, 2)
    pids = [proc.pid, *(k.pid for k in kids)]
    assert proc.pgid == proc.pid == os.getpgid(proc.pid)
    proc.stop(timeout=5)
    proc.stop(timeout=5)
    assert not proc.is_alive()
    assert all(_gone(pid) for pid in pids), [pid for pid in pids if not _gone(pid)]
    assert _group_members(proc.pgid) == []


def test_stop_sigkills_after_timeout(tmp_path: Path) -> None:
    # Ignored signals stay ignored across exec, so neither sh nor its sleeps die on SIGTERM.
    proc = ManagedProcess(["sh", "-c", "trap '' TERM; sleep 60 & sleep 60"], log_path=tmp_path / "t.log")
    kids = _wait_children(proc.pid, 2)
    t0 = time.monotonic()
    rc = proc.stop(timeout=0.5)
    assert 0.4 < time.monotonic() - t0 < 5
    assert rc == -signal.SIGKILL
    assert all(_gone(k.pid) for k in kids)
    assert _group_members(proc.pgid) == []


def test_leader_only_signal_still_reaps_group(tmp_path: Path) -> None:
    # The leader exits on SIGINT but leaves a background child: stop() must still kill it.
    proc = ManagedProcess(
        ["sh", "-c", "trap 'exit 0' INT; sleep 60 & while :; do sleep 0.05; done"],
        log_path=tmp_path / "l.log",
        stop_signal=signal.SIGINT,
        signal_group=False,
    )
    kids = _wait_children(proc.pid, 1)
    proc.stop(timeout=5)
    assert all(_gone(k.pid) for k in kids)
    assert _group_members(proc.pgid) == []


def test_children_are_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from oddstream.runtime.procs import ManagedProcess;"
        f"p = ManagedProcess(['sh', '-c', 'sleep 60 & sleep 60'], log_path=Path({str(tmp_path / 'x.log')!r}));"
        f"Path({str(tmp_path / 'pid')!r}).write_text(str(p.pid))"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True)
    pid = int((tmp_path / "pid").read_text())
    assert _gone(pid)
    assert _group_members(pid) == []


def test_children_die_with_a_parent_killed_without_cleanup(tmp_path: Path) -> None:
    """SIGKILL runs no atexit handler; the kernel's parent-death signal still stops the child."""
    import textwrap

    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from oddstream.runtime.procs import ManagedProcess
        p = ManagedProcess(["sleep", "60"], log_path=Path({str(tmp_path / "child.log")!r}))
        print(p.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    line = parent.stdout.readline()
    while not line.strip().isdigit():  # skip log lines
        line = parent.stdout.readline()
    child_pid = int(line)
    assert not _gone(child_pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid)
