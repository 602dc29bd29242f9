"""Line movement shaped from stored changes (``streams.history``): change points, gaps, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.history import HistoryQuery, HistoryRow, QueryError, history_body, history_csv, parse_query
from streams.markets import market_margin
from streams.sources.registry import NAMES

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAMES_1X2 = ("1", "2", "X")


def q(**kw: object) -> HistoryQuery:
    base: dict[str, object] = {
        "market_id": "3743",
        "line": None,
        "bookmakers": (),
        "since": None,
        "until": None,
        "csv": False,
    }
    return HistoryQuery(**{**base, **kw})  # type: ignore[arg-type]


def outcomes(prices: dict[str, float | None]) -> list[dict[str, object]]:
    return [{"name": n, "price": p if p is not None else 2.0, "suspended": p is None} for n, p in prices.items()]


def row(minutes: int, book: str = "betpawa", **prices: float | None) -> HistoryRow:
    return HistoryRow(book, T0 + timedelta(minutes=minutes), outcomes(prices))


def points(body: dict[str, object], book: str, outcome: str) -> list[tuple[str, float | None]]:
    series = [s for s in body["series"] if s["bookmaker"] == book and s["outcome"] == outcome]  # type: ignore[attr-defined,index]
    assert len(series) == 1
    return [(p["at"], p["price"]) for p in series[0]["points"]]


def test_change_points_gaps_as_null_and_confirmed_until() -> None:
    rows = [
        row(0, **{"1": 2.0, "X": 3.2, "2": 3.9}),
        row(5, **{"1": 2.1, "X": 3.2, "2": 3.9}),
        row(9, **{"1": None, "X": 3.2, "2": 3.9}),  # suspended
        HistoryRow("betpawa", T0 + timedelta(minutes=12), []),  # withdrawn
        row(20, **{"1": 2.1, "X": 3.3, "2": 3.9}),
    ]
    body = history_body("1", q(), rows, {"betpawa": T0 + timedelta(minutes=30)})
    at = lambda m: (T0 + timedelta(minutes=m)).isoformat()  # noqa: E731
    assert points(body, "betpawa", "1") == [(at(0), 2.0), (at(5), 2.1), (at(9), None), (at(20), 2.1)]
    assert points(body, "betpawa", "X") == [(at(0), 3.2), (at(12), None), (at(20), 3.3)]
    assert points(body, "betpawa", "2") == [(at(0), 3.9), (at(12), None), (at(20), 3.9)]
    margins = body["margins"][0]["points"]  # type: ignore[index]
    assert [p["margin"] is None for p in margins] == [False, False, True, False]
    assert [p["at"] for p in margins] == [at(0), at(5), at(9), at(20)]
    assert {s["confirmed_until"] for s in body["series"]} == {at(30)}  # type: ignore[attr-defined]


def test_a_window_starts_with_the_price_then_current() -> None:
    rows = [
        row(0, **{"1": 2.0, "X": 3.2, "2": 3.9}),
        row(5, **{"1": 2.1, "X": 3.2, "2": 3.9}),
        row(50, **{"1": 2.2, "X": 3.2, "2": 3.9}),
    ]
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=40)
    body = history_body("1", q(since=since, until=until), rows, {"betpawa": T0 + timedelta(minutes=60)})
    assert points(body, "betpawa", "1") == [(since.isoformat(), 2.1)]
    assert {s["confirmed_until"] for s in body["series"]} == {until.isoformat()}  # type: ignore[attr-defined]


def test_the_csv_has_a_row_per_point() -> None:
    body = history_body(
        "7", q(), [row(0, **{"1": 2.0, "X": 3.2, "2": 3.9}), row(1, **{"1": None, "X": 3.2, "2": 3.9})], {}
    )
    lines = history_csv(body).splitlines()
    assert lines[0].startswith("sportradar_id,market_id,line,bookmaker,series,at,value")
    assert len(lines) == 1 + 4 + 2  # outcome 1 twice, X and 2 once; the margin twice
    assert any(",1," in ln and ln.split(",")[6] == "" for ln in lines[1:])  # null price is empty, not 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "market_id is required"),
        ({"market_id": "3743", "line": "two"}, "line must be a number"),
        ({"market_id": "3743", "line": "nan"}, "finite"),
        ({"market_id": "3743", "from": "2026-12-01T10:00:00"}, "from must be"),
        ({"market_id": "3743", "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to must not be before"),
        ({"market_id": "3743", "format": "xml"}, "format must be"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(params, [], NAMES)


def test_an_unknown_bookmaker_is_refused() -> None:
    with pytest.raises(QueryError, match="unknown bookmaker"):
        parse_query({"market_id": "3743"}, ["betpawa", "nobody"], NAMES)
    assert parse_query({"market_id": "3743"}, ["bet9ja", "bet9ja"], NAMES).bookmakers == ("bet9ja",)


price = st.one_of(st.none(), st.sampled_from([1.5, 1.9, 2.0, 2.5, 3.1, 3.3, 4.0]))
boards = st.lists(
    st.tuples(
        st.integers(0, 500),
        st.sampled_from(NAMES),
        st.one_of(st.just(None), st.fixed_dictionaries({n: price for n in NAMES_1X2})),
    ),
    min_size=1,
    max_size=40,
)


def _current(rows: list[HistoryRow], book: str, name: str, at: datetime) -> float | None:
    """Brute force: the price of ``name`` on ``book`` at ``at`` from the latest row at or before it."""
    seen = [r for r in rows if r.bookmaker == book and r.observed_at <= at]
    if not seen:
        return None
    last = max(seen, key=lambda r: r.observed_at)
    for o in last.outcomes:
        if o["name"] == name:
            return None if o["suspended"] else float(o["price"])  # type: ignore[arg-type]
    return None


def _point_at(pts: list[dict[str, object]], at: datetime) -> float | None:
    current = None
    for p in pts:
        if datetime.fromisoformat(str(p["at"])) <= at:
            current = p["price"]
    return current  # type: ignore[return-value]


@settings(max_examples=150, deadline=None)
@given(boards, st.one_of(st.none(), st.integers(0, 500)))
def test_the_series_gives_the_price_at_every_moment_with_no_repeated_point(drawn, since_min) -> None:  # type: ignore[no-untyped-def]
    by_time: dict[tuple[int, str], HistoryRow] = {}
    for minute, book, prices in drawn:  # one row per board and moment, as the table's key has it
        by_time[(minute, book)] = HistoryRow(
            book, T0 + timedelta(minutes=minute), [] if prices is None else outcomes(prices)
        )
    rows = list(by_time.values())
    since = None if since_min is None else T0 + timedelta(minutes=since_min)
    body = history_body("1", q(since=since), rows, {})
    for s in body["series"]:
        pts = s["points"]
        assert all(a["price"] != b["price"] for a, b in pairwise(pts)), "a repeated point"
        assert all(p["price"] is None or p["price"] > 1 for p in pts), "a price is never a zero"
        for r in rows:
            if r.bookmaker == s["bookmaker"] and (since is None or r.observed_at >= since):
                assert _point_at(pts, r.observed_at) == _current(rows, s["bookmaker"], s["outcome"], r.observed_at)
    for m in body["margins"]:
        for r in rows:
            if r.bookmaker == m["bookmaker"] and (since is None or r.observed_at >= since):
                last = max(
                    (x for x in rows if x.bookmaker == r.bookmaker and x.observed_at <= r.observed_at),
                    key=lambda x: x.observed_at,
                )
                want = market_margin("3743", last.outcomes) if last.outcomes else None
                got = None
                for p in m["points"]:
                    if datetime.fromisoformat(p["at"]) <= r.observed_at:
                        got = p["margin"]
                assert (got is None) == (want is None) and (want is None or abs(got - want) < 1e-5)
