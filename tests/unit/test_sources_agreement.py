"""The three bookmakers' boards of one match agree once canonical (real captures and the synthetic match)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.sources import bet9ja, betpawa, sportybet
from streams.sources.mapping import EARLY_PAYOUT
from streams.sources.model import ParsedEvent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = {"3743", "5000", "3795", "4693", "3774", "4724"}  # 1X2, totals, BTTS, double chance, handicaps


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


def _board(parsed: ParsedEvent) -> dict[tuple[str, float | None], dict[str, float]]:
    return {
        (q.market_id, q.line): {o.name: o.price for o in q.outcomes if o.price is not None}
        for q in parsed.markets
        if q.market_id in SHARED and q.complete
    }


def _fair(prices: dict[str, float]) -> dict[str, float]:
    """Implied probabilities with the margin taken out (Double Chance sums to 2)."""
    implied = {name: 1 / odds for name, odds in prices.items()}
    total = sum(implied.values()) / (2 if set(prices) == {"1X", "X2", "12"} else 1)
    return {name: p / total for name, p in implied.items()} if len(prices) > 1 else implied


def _real_trio() -> list[ParsedEvent]:
    return [
        betpawa.parse_event(_load("betpawa.event.v3.real.json")),
        sportybet.parse_event(_load("sportybet.event.real.json")),
        bet9ja.parse_event(_load("bet9ja.event.real.json")),
    ]


def test_real_match_identity_agrees() -> None:
    trio = _real_trio()
    assert {p.sportradar_id for p in trio} == {"66457014"}
    assert len({p.kickoff_at for p in trio}) == 1
    assert {(p.home_team, p.away_team) for p in trio} == {("Norway", "France")}


def test_real_match_shared_markets_agree_within_price_differences() -> None:
    boards = [_board(p) for p in _real_trio()]
    compared: set[tuple[str, float | None]] = set()
    for i, a in enumerate(boards):
        for b in boards[i + 1 :]:
            for key in a.keys() & b.keys():
                if set(a[key]) != set(b[key]):  # a locked side on one book: compare the priced outcomes
                    assert set(a[key]) & set(b[key]), key
                fa, fb = _fair(a[key]), _fair(b[key])
                for name in fa.keys() & fb.keys():
                    # margin-free probabilities within 5 points: a swapped outcome is off by far more
                    assert abs(fa[name] - fb[name]) < 0.05, (key, name, a[key], b[key])
                if set(a[key]) == set(b[key]) and len(a[key]) > 1:
                    assert min(a[key], key=a[key].__getitem__) == min(b[key], key=b[key].__getitem__), key
                compared.add(key)
    # each shared family is compared on at least two books, incl. the handicap sign conventions
    assert {("3743", None), ("4693", None), ("3795", None), ("3774", -0.5), ("4724", -1.0)} <= compared
    assert {k for k in compared if k[0] == "5000"} >= {("5000", 1.5), ("5000", 2.5), ("5000", 3.5)}
    assert all(("3743", None) in b and ("3774", -0.5) in b and ("4724", -1.0) in b for b in boards)


DRAW_NO_BET = "4703"
EARLY_PAYOUT_IDS = {e.betpawa_id for e in EARLY_PAYOUT}  # their own payoff: not one shared number


def _chances(parsed: ParsedEvent) -> dict[tuple[str, float | None], dict[str, tuple[float, float | None]]]:
    """The fair (probability, refund) of every outcome that has one, by (market, line)."""
    return {
        (q.market_id, q.line): {
            o.name: (o.probability, o.refund_probability) for o in q.outcomes if o.probability is not None
        }
        for q in parsed.markets
    }


def test_real_match_fair_probabilities_are_one_feed() -> None:
    """markets.md §7: BetPawa's decoded ``win`` is SportyBet's ``probability`` to 6 decimals (SR 66457014)."""
    pawa = _chances(betpawa.parse_event(_load("betpawa.event.v3.real.json")))
    sporty = _chances(sportybet.parse_event(_load("sportybet.event.real.json")))
    shared = {k for k in pawa.keys() & sporty.keys() if k[0] not in EARLY_PAYOUT_IDS}
    assert ("3743", None) in shared
    for key in shared:
        assert pawa[key].keys() == sporty[key].keys(), key
        for name, (win, refund) in pawa[key].items():
            no_push = win / (1 - (refund or 0.0))  # SportyBet renormalises a push away
            assert abs(no_push - sporty[key][name][0]) < 5e-7, (key, name, win, refund, sporty[key][name])
            if key[0] == DRAW_NO_BET:
                assert refund is not None and refund > 0  # BetPawa's win is unconditional
    one_x_two = {name: round(win, 6) for name, (win, _) in pawa[("3743", None)].items()}
    assert one_x_two == {"1": 0.199651, "X": 0.207834, "2": 0.592511}  # the values markets.md gives
    # what the trimmed captures hold in common (no Draw No Bet, no common O/U line)
    assert {("3743", None), ("3774", -0.5), ("3795", None), ("4693", None), ("4724", -1.0)} <= shared


def _fixed_synthetic_betpawa() -> dict[str, Any]:
    """The synthetic BetPawa file with real-capture conventions (bookmakers.md §5): handicap = line x 4."""
    payload = _load("betpawa.event.synthetic.json")
    for market in payload["markets"]:
        for row in market["row"]:
            if row.get("formattedHandicap") is None:
                row.pop("handicap", None)
            else:
                row["handicap"] = round(float(row["formattedHandicap"]) * 4)
    return payload


def test_synthetic_match_expected_result() -> None:
    """samples/README.md: the canonical result a correct mapper produces for SR 65905654."""
    pawa = betpawa.parse_event(_fixed_synthetic_betpawa())
    sporty = sportybet.parse_event(_load("sportybet.event.synthetic.json"))
    nine = bet9ja.parse_event(_load("bet9ja.event.synthetic.json"), sportradar_id="65905654")
    assert {p.sportradar_id for p in (pawa, sporty, nine)} == {"65905654"}
    assert len({p.kickoff_at for p in (pawa, sporty, nine)}) == 1
    keys = {p.bookmaker: {(q.market_id, q.line) for q in p.markets} for p in (pawa, sporty, nine)}
    main = {("3743", None), ("4693", None), ("3795", None), ("5000", 2.5), ("5000", 3.5), ("3774", -0.5)}
    assert main <= keys["betpawa"]
    assert main | {("5000", 1.5), ("4724", -1.0)} <= keys["sportybet"]
    assert (
        main | {("5000", 1.5), ("4724", -1.0), ("5006", 1.5), ("5003", 1.5), ("4964", 0.5), ("4961", 0.5)}
        <= keys["bet9ja"]
    )
    assert ("5000", 1.5) not in keys["betpawa"]
    one_x_two = {p.bookmaker: _board(p)[("3743", None)] for p in (pawa, sporty, nine)}
    assert one_x_two == {
        "betpawa": {"1": 2.1, "X": 3.45, "2": 3.5},
        "sportybet": {"1": 2.15, "X": 3.4, "2": 3.45},
        "bet9ja": {"1": 2.12, "X": 3.35, "2": 3.4},
    }
    assert nine.unmapped.get("unknown_market", 0) >= 1  # CHANCEMIXOU
    assert sporty.unmapped.get("unknown_market", 0) >= 1  # 60180
