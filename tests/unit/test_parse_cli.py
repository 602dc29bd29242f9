"""``oddstream parse`` runs exactly the worker's parse, the SportRadar id the list gave included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oddstream.cli import main
from streams.sources.registry import bookmaker

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_parse_prints_the_board_the_worker_would_publish(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "bet9ja.event.real.json"
    assert main(["parse", "--bookmaker", "bet9ja", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    worker = bookmaker("bet9ja").parse(json.loads(path.read_text()), None)
    assert printed["sportradar_id"] == worker.sportradar_id == "66457014"
    assert printed["markets"] == [q.to_json() for q in worker.markets] and printed["unmapped"] == worker.unmapped


def test_an_answer_without_its_id_takes_the_one_the_list_gave(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = json.loads((FIXTURES / "bet9ja.event.real.json").read_text())
    _drop_ids(payload)
    path = tmp_path / "no-id.json"
    path.write_text(json.dumps(payload))
    assert main(["parse", "--bookmaker", "bet9ja", str(path)]) == 2
    assert "bet9ja event" in capsys.readouterr().err
    assert main(["parse", "--bookmaker", "bet9ja", "--sportradar-id", "61300947", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["sportradar_id"] == "61300947"


def _drop_ids(node: object) -> None:
    if isinstance(node, dict):
        node.pop("EXTID", None)
        node.pop("BRMATCHID", None)
        for value in node.values():
            _drop_ids(value)
    elif isinstance(node, list):
        for value in node:
            _drop_ids(value)
