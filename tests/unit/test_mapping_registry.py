"""The registry against markets.md §3, and every entry through both competitor parsers (hypothesis)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sources import bet9ja, mapping, sportybet
from streams.sources.mapping import REGISTRY, MarketEntry

MARKETS_TABLE = Path(__file__).parents[1] / "fixtures" / "markets.table.md"
"""The mapping table of the domain notes (markets.md §3), committed beside the tests."""
NOW_MS = 1782500400000


def test_registry_counts_match_markets_md() -> None:
    assert len(REGISTRY) == 129
    assert sum(e.betpawa_id is None for e in REGISTRY) == 23
    assert sum(bool(e.sportybet_id and e.betpawa_id) for e in REGISTRY) == 106
    assert sum(bool(e.bet9ja_key and e.betpawa_id) for e in REGISTRY) == 92
    never = [e.canonical for e in REGISTRY if e.betpawa_id and not e.betpawa_names()]
    assert len(never) == 7


def test_registry_ids_are_the_table_ids() -> None:
    rows = [ln for ln in MARKETS_TABLE.read_text().splitlines() if re.match(r"^\| [a-z0-9_]+ \| ", ln)]
    table = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 6:
            table[cells[0]] = tuple(None if c == "\u2013" else c for c in cells[1:4])
    table.pop("canonical", None)  # the header row
    assert len(table) == 129
    ours = {e.canonical: (e.betpawa_id, e.sportybet_id, e.bet9ja_key) for e in REGISTRY}
    assert ours == table


def test_split_targets_exist_in_registry() -> None:
    for parts in mapping.B9_SPLITS.values():
        for market_id, _ in parts:
            assert mapping.by_betpawa(market_id) is not None


# The entry each id resolves to (early payout shadows the reference's SportyBet 60200/60100 readings).
ALL = (*mapping.EARLY_PAYOUT, *REGISTRY)
SB_ENTRIES = list({e.sportybet_id: mapping.by_sportybet(e.sportybet_id) for e in ALL if e.sportybet_id}.values())
B9_ENTRIES = list({e.bet9ja_key: mapping.by_bet9ja(e.bet9ja_key) for e in ALL if e.bet9ja_key}.values())


def _sb_line(entry: MarketEntry) -> tuple[str | None, float | None, str]:
    """(specifier, expected line, desc suffix) as SportyBet writes them for this entry."""
    sb_id = entry.sportybet_id
    assert sb_id is not None
    if sb_id in mapping.SB_TOTAL_IDS:
        return "total=2.5", 2.5, " 2.5"
    if sb_id in mapping.SB_HANDICAP_IDS:
        if sb_id in ("14", "65", "87"):  # 3-way: X:Y
            return "hcp=0:1", -1.0, " (0:1)"
        return "hcp=-0.5", -0.5, " (-0.5)"
    if sb_id in mapping.SB_VARIANT_IDS:
        return "variant=sr:exact_goals:6+", None, ""
    if sb_id in mapping.SB_TIME_WINDOW_IDS:
        return "from=1|to=10", None, ""
    return None, None, ""


def _sb_payload(markets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "bizCode": 10000,
        "message": "0#0",
        "data": {
            "eventId": "sr:match:123",
            "estimateStartTime": NOW_MS,
            "homeTeamName": "A",
            "awayTeamName": "B",
            "markets": markets,
        },
    }


@settings(max_examples=300, deadline=None)
@given(entry=st.sampled_from(SB_ENTRIES), odds=st.floats(1.01, 200), active=st.booleans())
def test_every_sportybet_entry(entry: MarketEntry, odds: float, active: bool) -> None:
    specifier, line, suffix = _sb_line(entry)
    raw_outcomes = [
        {"id": f"x{i}", "desc": f"{o.sportybet}{suffix}", "odds": f"{odds:.2f}", "isActive": int(active)}
        for i, o in enumerate(entry.outcomes)
        if o.sportybet is not None
    ]
    market: dict[str, Any] = {"id": entry.sportybet_id, "desc": entry.canonical, "outcomes": raw_outcomes}
    if specifier is not None:
        market["specifier"] = specifier
    parsed = sportybet.parse_event(_sb_payload([market]))
    mappable = [o for o in entry.outcomes if o.sportybet is not None and o.betpawa is not None]
    if entry.betpawa_id is None:
        assert parsed.markets == () and parsed.unmapped == {"unsupported_platform": 1}
        return
    if not mappable:
        assert parsed.markets == () and parsed.unmapped == {"no_matching_outcomes": 1}
        return
    (quote,) = parsed.markets
    assert quote.market_id == entry.betpawa_id
    assert quote.line == line
    assert [o.name for o in quote.outcomes] == [o.betpawa for o in mappable]
    for outcome in quote.outcomes:
        live = active and round(odds, 2) > 1.0
        assert outcome.suspended is not live
        assert outcome.price == (float(f"{odds:.2f}") if live else None)
    dropped = any(o.sportybet is not None and o.betpawa is None for o in entry.outcomes)
    assert quote.complete is not dropped


def _b9_param(entry: MarketEntry) -> tuple[str | None, float | None]:
    code = (entry.bet9ja_key or "")[2:]
    if code in mapping.B9_SPLITS or code in mapping.B9_TOTAL_CODES:
        return "2.5", 2.5
    if code in mapping.B9_HANDICAP_CODES:
        return "-1", -1.0
    return None, None


def _b9_payload(odds: dict[str, Any]) -> dict[str, Any]:
    return {"R": "OK", "D": {"ID": 1, "EXTID": "123", "DS": "A - B", "STARTDATE": "2026-06-26 19:00:00", "O": odds}}


@settings(max_examples=300, deadline=None)
@given(entry=st.sampled_from(B9_ENTRIES), odds=st.floats(1.01, 200), locked=st.booleans())
def test_every_bet9ja_entry(entry: MarketEntry, odds: float, locked: bool) -> None:
    param, line = _b9_param(entry)
    at = f"@{param}" if param is not None else ""
    value = "1" if locked else f"{odds:.2f}"
    code = (entry.bet9ja_key or "")[2:]
    sharing = [e for e in ALL if e.bet9ja_key == entry.bet9ja_key] if code in mapping.B9_SPLITS else [entry]
    keys = {f"{e.bet9ja_key}{at}_{o.bet9ja}": value for e in sharing for o in e.outcomes if o.bet9ja is not None}
    if not keys:  # an entry without outcomes: whatever Bet9ja offers cannot be named
        keys = {f"{entry.bet9ja_key}{at}_1-0/0-0": value}
    parsed = bet9ja.parse_event(_b9_payload(keys))
    if code in mapping.B9_SPLITS:
        assert {q.market_id for q in parsed.markets} == {mid for mid, _ in mapping.B9_SPLITS[code]}
        assert all(q.line == line and [o.name for o in q.outcomes] == ["Over", "Under"] for q in parsed.markets)
        return
    mappable = [o for o in entry.outcomes if o.bet9ja is not None and o.betpawa is not None]
    if entry.betpawa_id is None:
        assert parsed.markets == () and parsed.unmapped == {"unsupported_platform": 1}
        return
    if not mappable:
        assert parsed.markets == () and parsed.unmapped == {"no_matching_outcomes": 1}
        return
    (quote,) = parsed.markets
    assert quote.market_id == entry.betpawa_id and quote.line == line
    assert [o.name for o in quote.outcomes] == [o.betpawa for o in mappable]
    price = float(value)
    live = price > 1.0
    assert all(o.suspended is not live and o.price == (price if live else None) for o in quote.outcomes)
    dropped = any(o.bet9ja is not None and o.betpawa is None for o in entry.outcomes)
    assert quote.complete is not dropped


def test_merge_quotes_joins_partial_rows() -> None:
    from streams.sources.model import Outcome, Quote

    a = Quote("4706", "htft", None, (Outcome("1/1", 3.0),))
    b = Quote("4706", "htft", None, (Outcome("X/X", 5.0), Outcome("1/1", 9.0)), complete=False)
    (merged,) = mapping.merge_quotes([a, b])
    assert [(o.name, o.price) for o in merged.outcomes] == [("1/1", 3.0), ("X/X", 5.0)]
    assert merged.complete is False
