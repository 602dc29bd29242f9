"""``GET /odds/events`` as the view answers it: a bad parameter is a 400 naming it, pages are cut after
the gather from every worker, ``scope=local`` answers the rows unfiltered, CSV is ``text/csv``.

The gather and this worker's rows are stubbed: what is under test is the view around the pure list.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict, MultiDictProxy
from yarl import URL

from agents import views
from agents.odds_rules import apply_observation
from streams.clock import format_ts, utc_now
from streams.markets import canonical_markets


class _View:
    def bytes(self, body: bytes, *, content_type: str, status: int = 200) -> dict[str, Any]:
        return {"body": body, "content_type": content_type, "status": status}


class _Request:
    def __init__(self, query: str) -> None:
        self.url = URL(f"http://worker/odds/events{query}")
        self.query = MultiDictProxy(MultiDict(self.url.query))


def _row(i: int, bm: str) -> dict[str, Any]:
    kickoff = format_ts(utc_now() + timedelta(hours=1 + i))
    one_x_two = {"market_id": "3743", "line": None, "outcomes": [{"name": n, "price": 2.5} for n in ("1", "X", "2")]}
    board = {
        "sportradar_id": str(60000000 + i),
        "bookmaker": bm,
        "home_team": f"Home {i}",
        "away_team": "Away",
        "tournament": "League",
        "country": "England" if i % 2 else "Spain",
        "kickoff_at": kickoff,
        "quotes": apply_observation(None, None, canonical_markets([one_x_two]), kickoff).quotes,
    }
    return {"board": board, "observed_at": format_ts(utc_now())}


@pytest.fixture
def boards(monkeypatch: pytest.MonkeyPatch) -> views.Boards:
    mine = [_row(i, "betpawa") for i in range(0, 60, 2)]
    theirs = [_row(i, "betpawa") for i in range(1, 60, 2)] + [_row(i, "bet9ja") for i in range(0, 60, 3)]

    async def gather(view: Any, request: Any, local: Any) -> tuple[list[Any], list[str]]:
        if request.query.get("scope") == "local":
            return list(local), []
        return [*local, *theirs], []  # the other worker's rows, as its ?scope=local answered them

    monkeypatch.setattr(views, "gather_json", gather)
    monkeypatch.setattr(views, "_local_rows", lambda b: mine)
    return views.Boards(app=None, boards={}, observed=None, partitions=4, zone=ZoneInfo("Africa/Lagos"))  # type: ignore[arg-type]


async def _get(boards: views.Boards, query: str) -> dict[str, Any]:
    out: dict[str, Any] = await views.events(_View(), _Request(query), boards)  # type: ignore[arg-type]
    return out


async def test_pages_are_cut_from_every_workers_rows(boards: views.Boards) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        out = await _get(boards, f"?page={page}&page_size=25")
        body = json.loads(out["body"])
        assert (out["status"], body["count"], body["page"], body["page_size"]) == (200, 60, page, 25)
        seen += [e["sportradar_id"] for e in body["events"]]
    assert len(seen) == len(set(seen)) == 60
    assert seen == sorted(seen)  # kickoff order is id order here, across both workers' rows
    filtered = json.loads((await _get(boards, "?country=Spain&min_bookmakers=2"))["body"])
    assert filtered["count"] == 10  # even ids that bet9ja lists too: multiples of 6


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?page=0", "page"),
        ("?page_size=500", "page_size"),
        ("?availability=x", "availability"),
        ("?kickoff=soon", "kickoff"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(boards: views.Boards, query: str, named: str) -> None:
    out = await _get(boards, query)
    assert out["status"] == 400
    assert named in json.loads(out["body"])["error"]


async def test_scope_local_answers_this_workers_rows_whatever_the_filters(boards: views.Boards) -> None:
    out = await _get(boards, "?scope=local&page=2&page_size=5&country=Spain")
    assert out["status"] == 200
    assert len(json.loads(out["body"])["items"]) == 30


async def test_csv_is_text_csv_with_a_row_per_event_and_bookmaker(boards: views.Boards) -> None:
    out = await _get(boards, "?format=csv")
    assert (out["status"], out["content_type"]) == (200, "text/csv")
    lines = out["body"].decode().strip().splitlines()
    assert lines[0].startswith("sportradar_id,kickoff_at,country,tournament")
    assert len(lines) == 1 + 60 + 20


class _JsonView:
    def json(self, body: Any, *, status: int = 200) -> dict[str, Any]:
        return {"body": body, "status": status}


async def _at(query: str, past: views.PastBoards | None) -> dict[str, Any]:
    b = views.Boards(app=None, boards={}, observed=None, partitions=4, zone=ZoneInfo("Africa/Lagos"))  # type: ignore[arg-type]
    out: dict[str, Any] = await views.event(_JsonView(), _Request(query), b, past, sportradar_id="60000002")  # type: ignore[arg-type]
    return out


async def test_the_board_at_a_moment_comes_from_the_history_and_says_which_moment() -> None:
    asked: list[Any] = []
    row = _row(2, "betpawa")

    async def past(sr: str, at: Any) -> Any:
        asked.append((sr, at))
        return ([row["board"]], {"60000002:betpawa": row["observed_at"]}) if sr == "60000002" else None

    out = await _at("?at=2026-12-01T18:00:00Z", past)
    assert out["status"] == 200, out
    assert out["body"]["at"] == "2026-12-01T18:00:00+00:00"
    assert [m["market_id"] for m in out["body"]["markets"]] == ["3743"]
    assert asked == [("60000002", datetime(2026, 12, 1, 18, tzinfo=UTC))]


@pytest.mark.parametrize("query", ["?at=yesterday", "?at=2026-12-01T18:00:00", "?at="])
async def test_a_bad_moment_is_a_400(query: str) -> None:
    async def past(sr: str, at: Any) -> Any:
        raise AssertionError("never asked")

    out = await _at(query, past)
    assert out["status"] == 400 and "at" in out["body"]["error"], out


async def test_the_board_at_a_moment_without_history_is_a_clear_answer() -> None:
    async def unknown(sr: str, at: Any) -> Any:
        return None

    async def nothing_then(sr: str, at: Any) -> Any:
        return [], {}

    async def down(sr: str, at: Any) -> Any:
        raise ConnectionError("refused")

    assert (await _at("?at=2026-12-01T18:00:00Z", None))["status"] == 503
    assert (await _at("?at=2026-12-01T18:00:00Z", unknown))["status"] == 404
    assert "had no prices" in (await _at("?at=2026-12-01T18:00:00Z", nothing_then))["body"]["error"]
    assert (await _at("?at=2026-12-01T18:00:00Z", down))["status"] == 503
