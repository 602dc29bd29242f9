"""The events list: its parameters, kickoff presets in the trader's zone, filters, sort, pages and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.board_query import BadParameter, ListQuery, kickoff_window, parse_list_query
from agents.board_view import CSV_HEAD, events_csv, list_events
from agents.odds_rules import apply_observation
from streams.markets import canonical_markets

LAGOS = ZoneInfo("Africa/Lagos")  # UTC+1, no DST
NOW = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)  # Wednesday 23:30 in Lagos
T0 = "2026-12-02T22:00:00+00:00"


def _board(
    sr_id: str,
    bm: str,
    kickoff: datetime,
    *,
    tournament: str = "Premier League",
    country: str = "England",
    home: str = "Arsenal",
    markets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    quotes = apply_observation(None, None, canonical_markets(markets or []), T0).quotes
    return {
        "sportradar_id": sr_id,
        "bookmaker": bm,
        "home_team": home,
        "away_team": "Chelsea",
        "tournament": tournament,
        "country": country,
        "kickoff_at": kickoff.isoformat(),
        "quotes": quotes,
        "observed_at": T0,
    }


def _q(**params: str | list[str]) -> ListQuery:
    return parse_list_query({k: v if isinstance(v, list) else [v] for k, v in params.items()}, NOW, LAGOS)


def _ids(boards: list[dict[str, Any]], query: ListQuery) -> list[str]:
    return [e["sportradar_id"] for e in list_events(boards, {}, NOW, query)["events"]]


# ---- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "101"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"min_bookmakers": "4"}, "min_bookmakers"),
        ({"min_bookmakers": "-1"}, "min_bookmakers"),
        ({"availability": "some"}, "availability"),
        ({"kickoff": "yesterday"}, "kickoff"),
        ({"kickoff_from": "2026-12-02T10:00:00"}, "kickoff_from"),  # naive: refused
        ({"kickoff_to": "soon"}, "kickoff_to"),
        ({"include_started": "maybe"}, "include_started"),
        ({"sort": "price"}, "sort"),
        ({"format": "xml"}, "format"),
        ({"page": ["1", "2"]}, "page"),
        ({"kickoff_from": "2026-12-03T00:00:00Z", "kickoff_to": "2026-12-02T00:00:00Z"}, "kickoff_from"),
    ],
)
def test_every_bad_parameter_is_refused_by_name(params: dict[str, Any], named: str) -> None:
    with pytest.raises(BadParameter, match=named):
        _q(**params)


def test_defaults_and_repeatable_filters() -> None:
    q = _q(scope="local", tournament=["LaLiga", "Serie A"], country=["Spain", "Italy"], q="  Real ")
    assert (q.page, q.page_size, q.availability, q.sort, q.include_started, q.format) == (
        1,
        50,
        "all",
        "kickoff",
        False,
        "json",
    )
    assert q.tournaments == {"LaLiga", "Serie A"}
    assert q.countries == {"Spain", "Italy"}
    assert q.q == "real"
    assert _q(include_started="true").include_started is True
    assert _q(format="csv").paged is False
    assert _q(format="csv", page="2").paged is True


# ---- kickoff presets in the trader's zone --------------------------------------------------------


def test_presets_are_days_of_the_traders_zone() -> None:
    # 22:30 UTC on Wednesday is 23:30 on Wednesday in Lagos: "today" ends at 23:00 UTC
    assert kickoff_window("today", NOW, LAGOS) == (
        datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 23, 0, tzinfo=UTC),
    )
    assert kickoff_window("tomorrow", NOW, LAGOS) == (
        datetime(2026, 12, 2, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 23, 0, tzinfo=UTC),
    )
    # the coming weekend: Saturday 5 December 00:00 to Monday 00:00, Lagos time
    assert kickoff_window("weekend", NOW, LAGOS) == (
        datetime(2026, 12, 4, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 23, 0, tzinfo=UTC),
    )
    assert kickoff_window("7d", NOW, LAGOS) == (NOW, NOW + timedelta(days=7))
    # in UTC the same instant is still Wednesday's last hour: "tomorrow" starts at midnight UTC
    assert kickoff_window("tomorrow", NOW, UTC)[0] == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("day", range(7))
def test_the_weekend_is_this_one_on_a_saturday_or_sunday(day: int) -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC) + timedelta(days=day)  # Monday 30 November + day
    start, end = kickoff_window("weekend", now, LAGOS)
    assert start.astimezone(LAGOS).weekday() == 5 and start.astimezone(LAGOS).hour == 0
    assert end - start == timedelta(days=2)
    assert start <= now < end if day >= 5 else now < start


def test_a_dst_zone_keeps_local_midnights() -> None:
    london = ZoneInfo("Europe/London")
    start, end = kickoff_window("today", datetime(2026, 3, 29, 12, 0, tzinfo=UTC), london)  # clocks go forward
    assert (start, end) == (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, 0, tzinfo=UTC))


def test_the_today_preset_filters_the_list() -> None:
    boards = [
        _board("1", "betpawa", datetime(2026, 12, 2, 22, 45, tzinfo=UTC)),  # 23:45 Lagos: today
        _board("2", "betpawa", datetime(2026, 12, 2, 23, 15, tzinfo=UTC)),  # 00:15 Lagos: tomorrow
    ]
    assert _ids(boards, _q(kickoff="today")) == ["1"]
    assert _ids(boards, _q(kickoff="tomorrow")) == ["2"]


# ---- filters ---------------------------------------------------------------------------------------

SOON = NOW + timedelta(hours=2)


def test_started_events_are_hidden_unless_asked_for() -> None:
    boards = [_board("1", "betpawa", NOW - timedelta(minutes=1)), _board("2", "betpawa", SOON)]
    assert _ids(boards, _q()) == ["2"]
    assert _ids(boards, _q(include_started="true")) == ["1", "2"]


def test_country_tournament_and_text() -> None:
    boards = [
        _board("1", "betpawa", SOON, tournament="Premier League", country="England"),
        _board("2", "betpawa", SOON, tournament="Premier League", country="Ghana", home="Hearts of Oak"),
        _board("3", "betpawa", SOON, tournament="LaLiga", country="Spain", home="Real Madrid"),
    ]
    assert _ids(boards, _q(tournament="Premier League")) == ["1", "2"]
    assert _ids(boards, _q(tournament="Premier League", country="Ghana")) == ["2"]
    assert _ids(boards, _q(country=["Ghana", "Spain"])) == ["2", "3"]
    assert _ids(boards, _q(tournament=["LaLiga", "Premier League"], country="England")) == ["1"]
    assert _ids(boards, _q(q="madrid")) == ["3"]
    assert _ids(boards, _q(q="ghana")) == ["2"]  # the country is searched too


def test_availability_and_min_bookmakers() -> None:
    boards = [
        *(_board("1", bm, SOON) for bm in ("betpawa", "sportybet", "bet9ja")),
        *(_board("2", bm, SOON) for bm in ("betpawa", "bet9ja")),
        _board("3", "betpawa", SOON),
        _board("4", "sportybet", SOON),
    ]
    assert _ids(boards, _q()) == ["1", "2", "3", "4"]
    assert _ids(boards, _q(availability="matched")) == ["1", "2"]
    assert _ids(boards, _q(availability="betpawa-only")) == ["3"]
    assert _ids(boards, _q(availability="competitor-only")) == ["4"]
    assert _ids(boards, _q(min_bookmakers="2")) == ["1", "2"]
    assert _ids(boards, _q(min_bookmakers="3")) == ["1"]


def test_sort_by_tournament_then_kickoff() -> None:
    boards = [
        _board("1", "betpawa", SOON + timedelta(hours=1), tournament="Serie A", country="Italy"),
        _board("2", "betpawa", SOON + timedelta(hours=2), tournament="LaLiga", country="Spain"),
        _board("3", "betpawa", SOON, tournament="Serie A", country="Italy"),
    ]
    assert _ids(boards, _q()) == ["3", "1", "2"]
    assert _ids(boards, _q(sort="tournament")) == ["3", "1", "2"]  # Italy before Spain
    boards[1]["country"] = "Albania"
    assert _ids(boards, _q(sort="tournament")) == ["2", "3", "1"]


def test_the_answer_carries_the_page_and_facets_of_everything_listable() -> None:
    boards = [
        _board("1", "betpawa", SOON, tournament="Premier League", country="England"),
        _board("2", "betpawa", SOON, tournament="Premier League", country="Ghana"),
        _board("3", "betpawa", NOW - timedelta(hours=1), tournament="LaLiga", country="Spain"),  # started
    ]
    body = list_events(boards, {}, NOW, _q(country="Ghana", page_size="1"))
    assert (body["count"], body["page"], body["page_size"]) == (1, 1, 1)
    assert body["events"][0]["country"] == "Ghana"
    assert body["facets"]["countries"] == [{"country": "England", "events": 1}, {"country": "Ghana", "events": 1}]
    assert [t["country"] for t in body["facets"]["tournaments"]] == ["England", "Ghana"]


def test_a_page_past_the_end_is_empty_with_the_total() -> None:
    boards = [_board(str(i), "betpawa", SOON) for i in range(3)]
    body = list_events(boards, {}, NOW, _q(page="3", page_size="2"))
    assert (body["count"], body["events"]) == (3, [])


events_st = st.lists(
    st.tuples(
        st.integers(0, 10**6),  # SportRadar id
        st.integers(-120, 600),  # kickoff, minutes from now
        st.sets(st.sampled_from(["betpawa", "sportybet", "bet9ja"]), min_size=1),
        st.sampled_from(["England", "Spain", "Ghana"]),
    ),
    max_size=60,
    unique_by=lambda e: e[0],
)


@given(events=events_st, page_size=st.integers(1, 100), sort=st.sampled_from(["kickoff", "tournament"]))
def test_pages_cover_every_matching_event_exactly_once(
    events: list[tuple[int, int, set[str], str]], page_size: int, sort: str
) -> None:
    boards = [
        _board(str(sr), bm, NOW + timedelta(minutes=minutes), country=country)
        for sr, minutes, books, country in events
        for bm in sorted(books)
    ]
    expected = {str(sr) for sr, minutes, _, _ in events if minutes >= 0}
    first = list_events(boards, {}, NOW, _q(page_size=str(page_size), sort=sort))
    assert first["count"] == len(expected)
    seen: list[str] = []
    pages = -(-len(expected) // page_size)
    for page in range(1, pages + 2):  # one page past the end: empty
        body = list_events(boards, {}, NOW, _q(page=str(page), page_size=str(page_size), sort=sort))
        assert body["count"] == len(expected)
        assert len(body["events"]) <= page_size
        seen += [e["sportradar_id"] for e in body["events"]]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))


# ---- CSV ---------------------------------------------------------------------------------------------


def test_csv_is_one_row_per_event_and_bookmaker_with_the_featured_prices() -> None:
    one_x_two = {
        "market_id": "3743",
        "line": None,
        "outcomes": [{"name": n, "price": p} for n, p in (("1", 2.0), ("X", 3.4), ("2", 3.9))],
    }
    dc = {
        "market_id": "4693",
        "line": None,
        "outcomes": [{"name": n, "price": p} for n, p in (("1X", 1.25), ("X2", 1.6), ("12", 1.3))],
    }
    boards = [
        _board("7", "betpawa", SOON, markets=[one_x_two, dc]),
        _board("7", "bet9ja", SOON, markets=[one_x_two]),
        _board("8", "betpawa", SOON + timedelta(hours=1)),
    ]
    text = events_csv(boards, {"7:betpawa": T0}, NOW, _q(format="csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_HEAD)
    assert [(r["sportradar_id"], r["bookmaker"]) for r in rows] == [("7", "bet9ja"), ("7", "betpawa"), ("8", "betpawa")]
    home = rows[1]
    assert (home["1x2_1"], home["1x2_X"], home["double_chance_X2"], home["observed_at"]) == ("2.0", "3.4", "1.6", T0)
    assert float(home["double_chance_margin"]) == pytest.approx((1 / 1.25 + 1 / 1.6 + 1 / 1.3) / 2 - 1, abs=1e-6)
    assert rows[0]["double_chance_1X"] == "" and rows[0]["observed_at"] == ""
    assert len(list(csv.reader(io.StringIO(events_csv(boards, {}, NOW, _q(format="csv", page_size="1")))))) == 3
