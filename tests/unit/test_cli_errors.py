"""The CLI's answers to bad configuration: one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "oddstream.cli", *args],
        env={**base, "ODDSTREAM_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_worker_with_an_unreachable_broker(tmp_path: Path) -> None:
    done = _run(
        "worker",
        tmp_path=tmp_path,
        ODDSTREAM_KAFKA_URL="kafka://127.0.0.1:1",
        ODDSTREAM_DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:2/x",
    )
    assert done.returncode == 2
    assert "oddstream worker: Kafka broker at 127.0.0.1:1 is unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_scrape_without_urls_or_a_running_up(tmp_path: Path) -> None:
    done = _run("scrape", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "no `oddstream up` is running" in done.stderr


@pytest.mark.parametrize(("name", "value"), [("ODDSTREAM_WEB_PORT", "x"), ("ODDSTREAM_SOURCES", "fake")])
def test_bad_settings(tmp_path: Path, name: str, value: str) -> None:
    done = _run("worker", tmp_path=tmp_path, **{name: value})
    assert done.returncode == 2
    assert name in done.stderr and "Traceback" not in done.stderr


def test_parse_prints_the_canonical_board_of_a_saved_response(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "betpawa.event.v4.json"
    done = _run("parse", "--bookmaker", "betpawa", str(fixture), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    import json

    board = json.loads(done.stdout)
    assert board["sportradar_id"] == "67691078"
    one_x_two = next(m for m in board["markets"] if m["market_id"] == "3743")
    assert [o["name"] for o in one_x_two["outcomes"]] == ["1", "X", "2"]


def test_parse_of_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "1"}')
    done = _run("parse", "--bookmaker", "betpawa", str(bad), tmp_path=tmp_path)
    assert done.returncode == 2
    assert "betpawa event" in done.stderr
