"""``oddstream replay``'s arguments, answered before any broker or database is touched."""

from __future__ import annotations

import pytest

from oddstream.cli import main


@pytest.fixture
def urls(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("ODDSTREAM_KAFKA_URL", "kafka://127.0.0.1:1")
    monkeypatch.setenv("ODDSTREAM_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("ODDSTREAM_DATA_DIR", str(tmp_path))


def test_since_needs_an_offset(urls: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--since", "2026-11-28T12:00:00"]) == 2
    assert "--since must be an RFC 3339 time with an offset" in capsys.readouterr().err


def test_since_and_from_beginning_exclude_each_other(urls: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--from-beginning", "--since", "2026-11-28T12:00:00Z"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_unknown_projection_is_refused(urls: None) -> None:
    with pytest.raises(SystemExit):
        main(["replay", "--projection", "nope"])
