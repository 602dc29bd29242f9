"""The projections' fast readers accept exactly what ``streams.events.decode`` accepts, and read the
same values: checked on generated records and on records with one field broken."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import rows
from streams import wire
from streams.events import InvalidEvent, OddsChanged, OddsObserved, decode, encode
from streams.wire import ObservedBoard

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

_outcome = st.fixed_dictionaries(
    {"name": st.sampled_from(["1", "X", "2", "Over", "Under", "Oui é"])},
    optional={
        "price": st.none() | st.floats(min_value=1.01, max_value=1000, allow_nan=False),
        "suspended": st.booleans(),
        "probability": st.none() | st.floats(min_value=0, max_value=1),
        "refund_probability": st.none() | st.floats(min_value=0, max_value=0.999),
    },
)
_market = st.fixed_dictionaries(
    {
        "market_id": st.sampled_from(["3743", "5000", "1"]),
        "line": st.none() | st.sampled_from([0.5, 2.5, -1.5, 3]),
        "outcomes": st.lists(_outcome, max_size=3),
    },
    optional={"market_name": st.text(max_size=5)},
)


def _observed(markets: list[dict[str, Any]]) -> dict[str, Any]:
    ev = OddsObserved(
        event_id="00000000-0000-0000-0000-00000000000a",
        occurred_at=T,
        run_id="run-1",
        bookmaker="sportybet",
        sportradar_id="61301",
        bookmaker_event_id="sb:1",
        home_team="Home",
        away_team="Away é",
        tournament="League",
        kickoff_at=T + timedelta(days=1),
        observed_at=T,
        markets=markets,
        country="England",
    )
    data: dict[str, Any] = json.loads(encode(ev))
    return data


def _changed(markets: list[dict[str, Any]]) -> dict[str, Any]:
    changes = [{**m, "previous_outcomes": None if i % 2 else m["outcomes"][:1]} for i, m in enumerate(markets)]
    ev = OddsChanged(
        event_id="00000000-0000-0000-0000-00000000000b",
        occurred_at=T,
        sportradar_id="61301",
        bookmaker="bet9ja",
        observed_at=T,
        caused_by="00000000-0000-0000-0000-00000000000a",
        run_id="run-1",
        changes=changes,
    )
    data: dict[str, Any] = json.loads(encode(ev))
    return data


_BAD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -3,
    0.5,
    1.0,
    10**400,
    float("inf"),
    "",
    "x",
    "123",
    "2026-11-28T12:00:00",
    "2026-11-28T12:00:00+00:00",
    "betpawa",
    [],
    [{}],
    [{"name": "1"}],
    {},
    {"a": 1},
    {"a": True},
]
_DELETE = object()


def _paths(data: dict[str, Any], key: str) -> list[tuple[Any, ...]]:
    """Every place a value can be broken: top-level fields, quote fields, outcome fields."""
    out: list[tuple[Any, ...]] = [(k,) for k in data]
    for i, q in enumerate(data[key]):
        out += [(key, i, k) for k in ("market_id", "line", "outcomes", "previous_outcomes", "extra")]
        for j, _ in enumerate(q.get("outcomes") or []):
            out += [(key, i, "outcomes", j, k) for k in ("name", "price", "suspended")]
        out.append((key, i, "outcomes", 0))
    out.append((key, 0))
    return out


def _broken(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> bytes:
    data = copy.deepcopy(data)
    target: Any = data
    try:
        for step in path[:-1]:
            target = target[step]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return json.dumps(data).encode()  # Infinity and NaN as Python writes them


def _outcome_of(read: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", read(raw)
    except InvalidEvent:
        return "invalid", None
    except Exception as exc:  # decode's own crashes must stay the same crashes
        return "error", type(exc).__name__


def _plain(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def value(v: Any) -> Any:
        return json.loads(v) if isinstance(v, wire.JsonText) else v

    return [{k: value(c.get(k)) for k in ("market_id", "line", "outcomes", "previous_outcomes")} for c in changes]


def _parsed(staged: list[Any]) -> list[Any]:
    """Staged rows with their JSON columns parsed: the record's own JSON text may differ in spacing only."""
    return [(*h[:5], json.loads(h[5]), None if h[6] is None else json.loads(h[6]), *h[7:]) for h in staged]


def _same_observed(raw: bytes) -> None:
    fast = _outcome_of(wire.read_observed, raw)
    slow = _outcome_of(lambda r: decode(r, [OddsObserved]), raw)
    assert fast[0] == slow[0], raw
    if fast[0] == "ok":
        head, ev = fast[1], slow[1]
        for name in ("event_id", "sportradar_id", "bookmaker", "home_team", "away_team", "tournament", "country"):
            assert getattr(head, name) == getattr(ev, name)
        assert (head.kickoff_at, head.observed_at) == (ev.kickoff_at, ev.observed_at)
    else:
        assert fast == slow
    board = _outcome_of(wire.read_board, raw)
    assert board[0] == slow[0]
    if board[0] == "ok":
        expected = ObservedBoard.of(slow[1])
        assert board[1] == expected
        assert json.dumps(board[1].markets) == json.dumps(expected.markets)  # same types too (1 vs 1.0)
    else:
        assert board == slow


def _same_changed(raw: bytes) -> None:
    fast = _outcome_of(wire.read_changed, raw)
    slow = _outcome_of(lambda r: decode(r, [OddsChanged]), raw)
    assert fast[0] == slow[0], raw
    if fast[0] == "ok":
        a, b = fast[1], slow[1]
        assert (a.event_id, a.occurred_at, a.sportradar_id, a.bookmaker, a.observed_at, a.caused_by, a.run_id) == (
            b.event_id,
            b.occurred_at,
            b.sportradar_id,
            b.bookmaker,
            b.observed_at,
            b.caused_by,
            b.run_id,
        )
        assert _plain(a.changes) == _plain(b.changes)
        assert _parsed(rows.change_rows([a])) == _parsed(rows.change_rows([b]))
    else:
        assert fast == slow


@settings(max_examples=60, deadline=None)
@given(st.lists(_market, min_size=1, max_size=4), st.data())
def test_observed_fast_reader_agrees_with_decode(markets: list[dict[str, Any]], data: st.DataObject) -> None:
    good = _observed(markets)
    _same_observed(json.dumps(good).encode())
    assert isinstance(wire.read_observed(json.dumps(good).encode()), wire.ObservedHead)
    path = data.draw(st.sampled_from(_paths(good, "markets")))
    value = data.draw(st.sampled_from([*_BAD_VALUES, _DELETE]))
    _same_observed(_broken(good, path, value))


@settings(max_examples=60, deadline=None)
@given(st.lists(_market, min_size=1, max_size=4), st.data())
def test_changed_fast_reader_agrees_with_decode(markets: list[dict[str, Any]], data: st.DataObject) -> None:
    good = _changed(markets)
    _same_changed(json.dumps(good).encode())
    path = data.draw(st.sampled_from(_paths(good, "changes")))
    value = data.draw(st.sampled_from([*_BAD_VALUES, _DELETE]))
    _same_changed(_broken(good, path, value))


def test_every_field_of_a_board_broken_in_turn() -> None:
    markets = [
        {"market_id": "3743", "line": None, "outcomes": [{"name": "1", "price": 2.1, "suspended": False}]},
        {"market_id": "5000", "line": 2.5, "outcomes": [{"name": "Over", "price": None}]},
    ]
    for make, same, key in ((_observed, _same_observed, "markets"), (_changed, _same_changed, "changes")):
        good = make(markets)
        for path in _paths(good, key):
            for value in [*_BAD_VALUES, _DELETE]:
                same(_broken(good, path, value))


def test_the_fast_reader_keeps_the_records_own_outcome_json() -> None:
    raw = json.dumps(_changed([{"market_id": "1", "line": 2.5, "outcomes": [{"name": "1", "price": 2.5}]}])).encode()
    ev = wire.read_changed(raw)
    assert isinstance(ev.changes[0]["outcomes"], wire.JsonText)
    assert json.loads(ev.changes[0]["outcomes"]) == [{"name": "1", "price": 2.5}]


def test_older_versions_and_other_types_take_the_full_decode() -> None:
    raw = dict(_observed([]))
    raw["event_type"] = "OddsChanged"
    try:
        wire.read_observed(json.dumps(raw).encode())
    except InvalidEvent as exc:
        assert "does not belong" in exc.reason
    else:
        raise AssertionError("an OddsChanged on odds.observed was accepted")


def test_a_valid_board_takes_the_fast_path() -> None:
    good = json.dumps(_observed([{"market_id": "1", "line": None, "outcomes": [{"name": "1", "price": 2.0}]}]))
    head = wire.ObservedHead.of(wire._parse_observed(good.encode()))
    assert (head.sportradar_id, head.bookmaker, head.observed_at) == ("61301", "sportybet", T)
    assert wire._fast_board(good.encode()) == ObservedBoard.of(decode(good.encode(), [OddsObserved]))
