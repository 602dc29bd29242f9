"""How long ``oddstream up`` takes to be healthy on each embedded broker, and what the broker holds.

Per broker, ``repeats`` times: ``up`` on a fresh data dir (the first start: storage formatted,
tables migrated), stopped, then started again on the same data dir (a restart: the broker's log
and the database kept). The clock runs from starting the process to ``/health`` answering 200,
and on to ``ready`` (partitions assigned, tables recovered). Tansu is the baseline; the ratios are
Apache Kafka's times over Tansu's, measured in the same run. The broker's resident memory is read
once it is healthy. No scrape runs (the schedule is off), so this is start-up alone.

    .venv/bin/python -m bench.up_start            # both brokers, 3 repeats (~3 min)
    .venv/bin/python -m bench.up_start --repeats 1 --brokers kafka
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from oddstream.runtime.procs import free_port

BROKER_NAMES = {"kafka": "java", "tansu": "tansu"}


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _broker_rss(up_pid: int, kind: str) -> int:
    for child in psutil.Process(up_pid).children(recursive=True):
        try:
            if BROKER_NAMES[kind] in child.name():
                return int(child.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return 0


def start_once(kind: str, data_dir: Path, timeout_s: float = 120.0) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
    env.update(
        {
            "ODDSTREAM_DATA_DIR": str(data_dir),
            "ODDSTREAM_WEB_PORT": str(port),
            "ODDSTREAM_EMBEDDED_BROKER": kind,
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
            "ODDSTREAM_SIMULATOR_EVENTS": "200",
        }
    )
    with open(data_dir.parent / f"up-{kind}.log", "ab") as out:
        started = time.monotonic()
        up = subprocess.Popen([sys.executable, "-m", "oddstream.cli", "up"], env=env, stdout=out, stderr=out)
        healthy = ready = None
        try:
            while time.monotonic() - started < timeout_s and up.poll() is None:
                body = _health(port)
                now = time.monotonic() - started
                if body is not None and healthy is None:
                    healthy = now
                if body is not None and body.get("ready"):
                    ready = now
                    break
                time.sleep(0.05)
            if healthy is None or ready is None:
                raise RuntimeError(f"up on {kind} not ready after {timeout_s} s; see {out.name}")
            rss = _broker_rss(up.pid, kind)
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(60)
    return {"healthy_s": healthy, "ready_s": ready, "broker_rss_mib": rss / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.up_start", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--brokers", nargs="+", choices=sorted(BROKER_NAMES), default=["tansu", "kafka"])
    args = parser.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {}
    for kind in args.brokers:
        for _ in range(args.repeats):
            work = Path(tempfile.mkdtemp(prefix=f"oddstream-up-{kind}-"))
            try:
                for phase in ("fresh", "restart"):
                    got = start_once(kind, work / "data")
                    for name, value in got.items():
                        results.setdefault(f"{kind} {phase}", {}).setdefault(name, []).append(value)
                    print(f"{kind:5} {phase:7} " + "  ".join(f"{k} {v:6.2f}" for k, v in got.items()), flush=True)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print(f"\nmedians of {args.repeats}")
    print(f"{'':15} {'healthy s':>10} {'ready s':>8} {'broker RSS MiB':>15}")
    medians = {}
    for row, values in results.items():
        medians[row] = {k: statistics.median(v) for k, v in values.items()}
        m = medians[row]
        print(f"{row:15} {m['healthy_s']:10.2f} {m['ready_s']:8.2f} {m['broker_rss_mib']:15.0f}")
    for phase in ("fresh", "restart"):
        k, t = medians.get(f"kafka {phase}"), medians.get(f"tansu {phase}")
        if k and t:
            print(f"ratio kafka/tansu, {phase}: ready {k['ready_s'] / t['ready_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
