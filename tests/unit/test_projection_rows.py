"""Pure batch preparation and retention decisions of the projections."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from projections import rows
from projections.retention import expired
from projections.schema import partition_ddl, partition_name
from projections.store import retention_cutoff
from streams.events import OddsChanged, OddsObserved

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _changed(event_id: str, at: datetime, changes: list[dict[str, object]], bookmaker: str = "betpawa") -> OddsChanged:
    return OddsChanged(
        event_id=event_id,
        sportradar_id="1",
        bookmaker=bookmaker,
        observed_at=at,
        caused_by="00000000-0000-0000-0000-000000000001",
        changes=changes,
    )


def _quote(market: str, line: float | None, price: float) -> dict[str, object]:
    return {"market_id": market, "line": line, "outcomes": [{"name": "1", "price": price}], "previous_outcomes": None}


A = "00000000-0000-0000-0000-00000000000a"
B = "00000000-0000-0000-0000-00000000000b"


def history_rows(events: list[OddsChanged], *, not_before: datetime | None = None) -> list[tuple[Any, ...]]:
    """The ``odds_history`` rows (``HISTORY_COLUMNS``) of ``change_rows``: those marked for the history."""
    return [tuple(r[:9]) for r in rows.change_rows(events, not_before=not_before) if r[9]]


def current_rows(events: list[OddsChanged]) -> list[tuple[Any, ...]]:
    """The ``odds_quotes`` rows (``CURRENT_COLUMNS``) of ``change_rows``: the newest change of each quote."""
    return [(r[4], r[3], r[1], r[2], r[5], r[7], r[0]) for r in rows.change_rows(events) if r[10]]


def test_history_rows_collapse_redelivered_keys_and_keep_null_lines() -> None:
    ev = _changed(A, T, [_quote("1", None, 2.0), _quote("2", 2.5, 1.5)])
    out = history_rows([ev, ev])
    assert len(out) == 2
    assert out[0][2] is None and out[1][2] == Decimal("2.5")
    assert out[0][5] == '[{"name":"1","price":2.0}]'


def test_history_rows_leave_out_what_retention_would_drop() -> None:
    old = _changed(A, T - timedelta(days=30), [_quote("1", None, 2.0)])
    assert history_rows([old], not_before=T - timedelta(days=14)) == []
    assert rows.days_of([old], not_before=T - timedelta(days=14)) == set()


def test_current_rows_keep_the_newest_change_whatever_the_order() -> None:
    older = _changed(A, T, [_quote("1", None, 2.0)])
    newer = _changed(B, T + timedelta(minutes=5), [_quote("1", None, 3.0)])
    for batch in ([older, newer], [newer, older]):
        (row,) = current_rows(batch)
        assert row[4] == '[{"name":"1","price":3.0}]' and row[5] == newer.observed_at and row[6] == B


def test_current_rows_break_ties_on_the_event_id() -> None:
    one = _changed(A, T, [_quote("1", 1.5, 2.0)])
    two = _changed(B, T, [_quote("1", 1.5, 3.0)])
    assert current_rows([one, two]) == current_rows([two, one])


def _observed(event_id: str, at: datetime, bookmaker: str, tournament: str) -> OddsObserved:
    return OddsObserved(
        event_id=event_id,
        run_id="r",
        bookmaker=bookmaker,
        sportradar_id="1",
        bookmaker_event_id="x",
        home_team="H",
        away_team="A",
        tournament=tournament,
        kickoff_at=T + timedelta(days=1),
        observed_at=at,
        markets=[],
    )


def test_sport_event_rows_merge_bookmakers_and_keep_the_newest_names() -> None:
    first = _observed(A, T, "sportybet", "Old name")
    second = _observed(B, T + timedelta(minutes=1), "betpawa", "New name")
    for batch in ([first, second], [second, first]):
        (row,) = rows.sport_event_rows(batch)
        assert row[3] == "New name" and row[5] == ["betpawa", "sportybet"]
        assert row[6] == T and row[7] == T + timedelta(minutes=1)
    assert rows.confirmation_rows([first, second, second]) == [
        ("1", "sportybet", T),
        ("1", "betpawa", T + timedelta(minutes=1)),
    ]


def test_partitions_are_whole_utc_days() -> None:
    assert partition_name(date(2026, 11, 28)) == "odds_history_p20261128"
    ddl = partition_ddl(date(2026, 12, 31))
    assert "FROM ('2026-12-31 00:00:00+00') TO ('2027-01-01 00:00:00+00')" in ddl


def test_expired_partitions_are_those_before_the_window() -> None:
    names = [partition_name(date(2026, 11, d)) for d in (13, 14, 15, 28)] + ["odds_history_default"]
    # 14 days kept, today included: Nov 15..28
    assert expired(names, 14, date(2026, 11, 28)) == ["odds_history_p20261113", "odds_history_p20261114"]
    assert expired(names, 0, date(2026, 11, 28)) == []
    assert retention_cutoff(14, T) == datetime(2026, 11, 15, tzinfo=UTC)
    assert retention_cutoff(0, T) is None


def test_a_change_outside_retention_still_moves_its_quote_but_not_the_history() -> None:
    old = _changed(A, T - timedelta(days=30), [_quote("1", None, 2.0)])
    (row,) = rows.change_rows([old], not_before=T - timedelta(days=14))
    staged = dict(zip(rows.STAGE_COLUMNS, row, strict=True))
    assert staged["in_history"] is False and staged["newest"] is True


def test_only_the_newest_change_of_a_quote_is_marked_for_odds_quotes() -> None:
    older = _changed(A, T, [_quote("1", None, 2.0), _quote("2", None, 1.5)])
    newer = _changed(B, T + timedelta(minutes=5), [_quote("1", None, 3.0)])
    staged = rows.change_rows([newer, older, older])  # redelivered, out of order
    assert len(staged) == 3  # every change once: two of quote 1, one of quote 2
    newest = {(r[1], r[0]) for r in staged if r[10]}
    assert newest == {("1", B), ("2", A)}
