"""The books' own fair probabilities (markets.md §7): decoding, parsing, and the simulated world's.

BetPawa's v3 blob is checked against an encoder written here from the spec's words (the inverse of
each step), so the decoder cannot merely agree with itself; the real captures pin what the spec
states of them (the 1X2 values, the sums, refund 0 on plain outcomes, early payout above 1).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sources import bet9ja, betpawa, sportybet
from streams.sources.books import BookView, competitor_quotes, render_bet9ja_event, render_sportybet_event
from streams.sources.model import Outcome, ParsedEvent, Quote
from streams.sources.registry import bookmaker
from streams.sources.simulator import SimulatedBooks, render_event
from streams.sources.world import MARKET_1X2, MARKET_DOUBLE_CHANCE, MARKET_DRAW_NO_BET, WorldEvent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
MASK = 0x9E3779B97F4A7C15  # markets.md §7, step 3
SPEC_1X2 = {"1": 0.199651, "X": 0.207834, "2": 0.592511}  # markets.md §7, SR 66457014
# The 1X2 of the real captures sums to 0.999996 (v3) and 0.999994 (v4): the feed's six decimals,
# not exactly 1 (markets.md's "1.000000" is rounded); a mis-decoded value is off by far more.
SUM_TOLERANCE = 1e-5


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


def _prices(payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for market in payload["markets"]:
        for row in market.get("row", []):
            for price in row.get("prices", []):
                yield market["marketType"]["id"], price


def _encode(win: float, refund: float, key: int, *, urlsafe: bool = False, padded: bool = True) -> str:
    """A v3 blob, built from the spec's steps run backwards (big-endian double, XOR, signed ints)."""

    def masked(p: float) -> int:
        bits: int = struct.unpack(">Q", struct.pack(">d", p))[0]
        value = bits ^ (key % 2**64) ^ MASK
        return value - 2**64 if value >= 2**63 else value

    raw = json.dumps({"win": masked(win), "refund": masked(refund), "key": key}, separators=(",", ":")).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if padded else text.rstrip("=")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _by_key(parsed: ParsedEvent) -> dict[tuple[str, float | None], Quote]:
    return {(q.market_id, q.line): q for q in parsed.markets}


def _chances(quote: Quote) -> dict[str, tuple[float | None, float | None]]:
    return {o.name: (o.probability, o.refund_probability) for o in quote.outcomes}


# --------------------------------------------------------------------------------------------------
# BetPawa: the v3 blob and the v4 object
# --------------------------------------------------------------------------------------------------


def test_v3_capture_decodes_every_price_to_a_probability() -> None:
    payload = _load("betpawa.event.v3.real.json")
    prices = list(_prices(payload))
    assert prices and all(isinstance(p["probability"], str) for _, p in prices)
    for market_id, price in prices:
        win, refund = betpawa.decode_probability(price["probability"])
        assert win is not None and 0.0 <= win <= 1.0, (market_id, price["name"])
        assert refund == 0.0, (market_id, price["name"])  # no push on any market of this capture


def test_v3_capture_1x2_is_the_fair_triple_of_the_spec() -> None:
    parsed = betpawa.parse_event(_load("betpawa.event.v3.real.json"))
    quotes = _by_key(parsed)
    one_x_two = {o.name: o.probability for o in quotes[(MARKET_1X2, None)].outcomes}
    assert one_x_two == pytest.approx(SPEC_1X2, abs=5e-7)
    assert math.fsum(p for p in one_x_two.values() if p is not None) == pytest.approx(1.0, abs=SUM_TOLERANCE)
    # the fair numbers are margin-free, unlike the prices
    overround = sum(1 / o.price for o in quotes[(MARKET_1X2, None)].outcomes if o.price is not None)
    assert overround > 1.02
    double_chance = [o.probability for o in quotes[(MARKET_DOUBLE_CHANCE, None)].outcomes]
    assert math.fsum(p for p in double_chance if p is not None) == pytest.approx(2.0, abs=SUM_TOLERANCE)
    one_up = [o.probability for o in quotes[("28000810", None)].outcomes]
    assert math.fsum(p for p in one_up if p is not None) > 1.2  # early payout: two selections can win


def test_v4_capture_objects_are_read_directly() -> None:
    payload = _load("betpawa.event.v4.json")
    prices = list(_prices(payload))
    assert prices and all(isinstance(p["probability"], dict) for _, p in prices)
    parsed = bookmaker("betpawa").parse(payload, None)
    for quote in parsed.markets:
        for outcome in quote.outcomes:
            assert outcome.probability is not None and 0.0 <= outcome.probability <= 1.0
            assert outcome.refund_probability == 0.0
    by_id = {p["id"]: p["probability"] for _, p in prices}
    assert all(betpawa.decode_probability(v) == (v["win"], v["refund"]) for v in by_id.values())
    one_x_two = [o.probability for o in _by_key(parsed)[(MARKET_1X2, None)].outcomes]
    assert math.fsum(p for p in one_x_two if p is not None) == pytest.approx(1.0, abs=SUM_TOLERANCE)
    suspended = [o for q in parsed.markets for o in q.outcomes if o.suspended]
    assert suspended and all(o.probability is not None for o in suspended)  # locked prices keep theirs


@settings(max_examples=300, deadline=None)
@given(
    win=st.floats(0.0, 1.0),
    refund=st.floats(0.0, 1.0),
    key=st.integers(-(2**63), 2**63 - 1),
    urlsafe=st.booleans(),
    padded=st.booleans(),
)
def test_v3_blob_round_trips(win: float, refund: float, key: int, urlsafe: bool, padded: bool) -> None:
    blob = _encode(win, refund, key, urlsafe=urlsafe, padded=padded)
    assert betpawa.decode_probability(blob) == (win, refund)


def test_v3_blob_in_the_url_safe_alphabet() -> None:
    # the blob's JSON of digits never yields "+" or "/"; an extra field of "?~" makes both appear
    fields = json.loads(base64.b64decode(_encode(0.199651, 0.207834, -7)))
    raw = json.dumps({**fields, "extra": "??~~??~~"}).encode()
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "+" in standard and "/" in standard and urlsafe != standard.rstrip("=")
    assert betpawa.decode_probability(standard) == betpawa.decode_probability(urlsafe) == (0.199651, 0.207834)


def test_v3_blob_keeps_integers_beyond_2_to_the_53() -> None:
    # a float parse of these integers would lose their low bits and give another double
    key = 2**62 + 12345
    blob = _encode(0.199651, 0.207834, key)
    fields = json.loads(base64.b64decode(blob))
    assert all(abs(v) > 2**53 for v in fields.values())
    assert betpawa.decode_probability(blob) == (0.199651, 0.207834)


def _garbage_blobs() -> list[object]:
    good = json.loads(base64.b64decode(_encode(0.25, 0.0, 42)))
    return [
        "",
        "   ",
        "not base64 at all!",
        "eyJ3aW4iOjE",  # base64 of a truncated object: not JSON
        _b64("not json"),
        _b64("0.454"),  # a number, not an object (the synthetic fixture's shape)
        _b64("[1, 2, 3]"),
        _b64(json.dumps({"win": good["win"], "refund": good["refund"]})),  # no key
        _b64(json.dumps({"win": good["win"], "key": good["key"]})),  # no refund
        _b64(json.dumps({"refund": good["refund"], "key": good["key"]})),  # no win
        _b64(json.dumps({**good, "win": float(good["win"])})),  # a float where an int belongs
        _b64(json.dumps({**good, "key": 42.0})),
        _b64(json.dumps({**good, "win": str(good["win"])})),
        _b64(json.dumps({**good, "refund": True})),
        _b64(json.dumps({**good, "win": None, "refund": None})),  # as a settled live price sends
        _b64(json.dumps({**good, "key": 2**64})),  # wider than 64 bits
        _b64(json.dumps({**good, "key": -(2**63) - 1})),
        _b64('{"win": NaN, "refund": 0, "key": 1}'),
        _b64("\xff\xfe garbage"),
        base64.b64encode(b"\xff\xfe\xfd not utf-8").decode(),
        "A" * 5000,
        _encode(1.5, 0.0, 7),  # decodes, but not to a probability
        _encode(-0.1, 0.0, 7),
        _encode(float("nan"), 0.0, 7),
        _encode(float("inf"), 0.0, 7),
        _encode(0.3, 2.0, 7),  # one half out of range: the blob is not trusted
        None,
        42,
        0.3,
        True,
        ["eyJ3aW4iOjF9"],
        b"bytes",
    ]


@pytest.mark.parametrize("value", _garbage_blobs())
def test_garbage_gives_no_probability(value: object) -> None:
    assert betpawa.decode_probability(value) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"win": 0.2, "refund": 0.1}, (0.2, 0.1)),
        ({"win": 1, "refund": 0}, (1.0, 0.0)),
        ({"win": 0.2}, (0.2, None)),  # an absent half is unknown, not guessed
        ({"refund": 0.0}, (None, 0.0)),
        ({}, (None, None)),
        ({"win": "0.2", "refund": None}, (None, None)),
        ({"win": True, "refund": False}, (None, None)),
        ({"win": 1.5, "refund": -0.1}, (None, None)),
        ({"win": float("nan"), "refund": float("inf")}, (None, None)),
        ({"win": 10**400, "refund": 0.0}, (None, 0.0)),
        ({"win": -0.0, "refund": 0.0}, (0.0, 0.0)),
    ],
)
def test_v4_object_values_are_read_one_by_one(value: object, expected: tuple[float | None, float | None]) -> None:
    assert betpawa.decode_probability(value) == expected


def _without_probabilities(parsed: ParsedEvent) -> list[tuple[str, float | None, tuple[Outcome, ...], bool]]:
    return [
        (q.market_id, q.line, tuple(Outcome(o.name, o.price, o.suspended) for o in q.outcomes), q.complete)
        for q in parsed.markets
    ]


@pytest.mark.parametrize("name", ["betpawa.event.v3.real.json", "betpawa.event.v4.json"])
def test_garbage_probabilities_leave_the_board_as_it_was(name: str) -> None:
    payload = _load(name)
    garbage, absent = copy.deepcopy(payload), copy.deepcopy(payload)
    junk = _garbage_blobs()
    for i, (_, price) in enumerate(_prices(garbage)):
        price["probability"] = junk[i % len(junk)]
    for _, price in _prices(absent):
        del price["probability"]
    parsed = betpawa.parse_event(payload)
    broken, bare = betpawa.parse_event(garbage), betpawa.parse_event(absent)
    assert _without_probabilities(broken) == _without_probabilities(bare) == _without_probabilities(parsed)
    assert all(o.probability is None and o.refund_probability is None for q in broken.markets for o in q.outcomes)
    assert bare.unmapped == broken.unmapped == parsed.unmapped


# --------------------------------------------------------------------------------------------------
# SportyBet: decimal strings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.1996510000", 0.199651),
        ("0E-10", 0.0),
        ("-0E-10", 0.0),
        ("1.000E-7", 1e-7),
        ("1", 1.0),
        (" 0.5 ", 0.5),
        (0.25, 0.25),
        ("abc", None),
        ("", None),
        ("NaN", None),
        ("sNaN", None),
        ("Infinity", None),
        ("-0.0000000001", None),
        ("1.0000000001", None),
        ("1E+5", None),
        ("0." + "1" * 100, None),  # far longer than any probability SportyBet writes
        (None, None),
        (True, None),
        ([], None),
        ({"win": 0.2}, None),
    ],
)
def test_sportybet_probability_strings(raw: object, expected: float | None) -> None:
    assert sportybet.parse_probability(raw) == expected


def test_negative_zero_is_read_as_zero() -> None:
    sporty = sportybet.parse_probability("-0E-10")
    pawa, _ = betpawa.decode_probability({"win": -0.0})
    blob, _ = betpawa.decode_probability(_encode(-0.0, 0.0, 99))
    assert [math.copysign(1.0, v) for v in (sporty, pawa, blob) if v is not None] == [1.0, 1.0, 1.0]


def test_sportybet_capture_carries_probability_and_void() -> None:
    parsed = bookmaker("sportybet").parse(_load("sportybet.event.real.json"), None)
    outcomes = [o for q in parsed.markets for o in q.outcomes]
    assert outcomes
    for outcome in outcomes:
        assert outcome.probability is not None and 0.0 <= outcome.probability <= 1.0
        assert outcome.refund_probability == 0.0  # "0E-10" on every prematch outcome captured
    one_x_two = {o.name: o.probability for o in _by_key(parsed)[(MARKET_1X2, None)].outcomes}
    assert one_x_two == pytest.approx(SPEC_1X2, abs=5e-7)


def test_sportybet_garbage_leaves_the_board_as_it_was() -> None:
    payload = _load("sportybet.event.real.json")
    garbage = copy.deepcopy(payload)
    for market in garbage["data"]["markets"]:
        for outcome in market["outcomes"]:
            outcome["probability"], outcome["voidProbability"] = "n/a", {"x": 1}
    parsed, broken = sportybet.parse_event(payload), sportybet.parse_event(garbage)
    assert _without_probabilities(broken) == _without_probabilities(parsed)
    assert all(o.probability is None and o.refund_probability is None for q in broken.markets for o in q.outcomes)


# --------------------------------------------------------------------------------------------------
# the worker's path and the wire
# --------------------------------------------------------------------------------------------------


def test_worker_parse_gives_quotes_of_outcomes_with_probabilities() -> None:
    for name, fixture in (("betpawa", "betpawa.event.v3.real.json"), ("sportybet", "sportybet.event.real.json")):
        parsed = bookmaker(name).parse(_load(fixture), None)
        assert isinstance(parsed, ParsedEvent)
        assert parsed.markets and all(isinstance(q, Quote) for q in parsed.markets)
        outcomes = [o for q in parsed.markets for o in q.outcomes]
        assert outcomes and all(isinstance(o, Outcome) for o in outcomes)
        assert all(o.probability is not None for o in outcomes), name
        wire = [o for q in parsed.markets for o in q.to_json()["outcomes"]]
        assert all({"probability", "refund_probability"} <= o.keys() for o in wire), name


def test_outcome_json_is_additive() -> None:
    assert Outcome("1", 2.5).to_json() == {"name": "1", "price": 2.5, "suspended": False}
    assert Outcome("1", None, True, probability=0.0).to_json() == {
        "name": "1",
        "price": None,
        "suspended": True,
        "probability": 0.0,
    }
    assert Outcome("1", 2.5, refund_probability=0.2).to_json()["refund_probability"] == 0.2
    bet9ja_board = bookmaker("bet9ja").parse(_load("bet9ja.event.real.json"), None)
    assert all(o.to_json().keys() == {"name", "price", "suspended"} for q in bet9ja_board.markets for o in q.outcomes)


# --------------------------------------------------------------------------------------------------
# the simulated world
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def view() -> BookView:
    return SimulatedBooks(7, 200, tick_s=3600, now=NOW).view()


def _world_quotes(event: WorldEvent) -> dict[tuple[str, float | None], Quote]:
    return {(q.market_id, q.line): q for q in event.quotes}


def test_world_outcomes_carry_fair_probabilities(view: BookView) -> None:
    for world in (view.main, view.main.tick(3)):
        for event in world.events:
            quotes = _world_quotes(event)
            for quote in quotes.values():
                for outcome in quote.outcomes:
                    assert outcome.probability is not None and 0.0 <= outcome.probability <= 1.0
                    assert outcome.refund_probability is not None and 0.0 <= outcome.refund_probability < 1.0
                    if quote.market_id != MARKET_DRAW_NO_BET:
                        assert outcome.refund_probability == 0.0
                # margin-free: the fair total (2 for double chance), rounded to six decimals per outcome
                total = math.fsum((o.probability or 0.0) + (o.refund_probability or 0.0) for o in quote.outcomes)
                if quote.market_id == MARKET_DRAW_NO_BET:
                    total -= quote.outcomes[0].refund_probability or 0.0  # one push, counted once
                expected = 2.0 if quote.market_id == MARKET_DOUBLE_CHANCE else 1.0
                assert total == pytest.approx(expected, abs=5e-6), (quote.market_id, quote.line)


def test_world_draw_no_bet_is_betpawa_style(view: BookView) -> None:
    for event in view.main.events:  # at step 0 every market of an event shares one goal model
        quotes = _world_quotes(event)
        one_x_two = {o.name: o.probability for o in quotes[(MARKET_1X2, None)].outcomes}
        dnb = {o.name: (o.probability, o.refund_probability) for o in quotes[(MARKET_DRAW_NO_BET, None)].outcomes}
        for name in ("1", "2"):
            win, refund = dnb[name]
            assert win == pytest.approx(one_x_two[name], abs=1.5e-6)  # unconditional
            assert refund == one_x_two["X"]  # the stake comes back on a draw


def test_rendered_boards_parse_back_to_the_world_probabilities(view: BookView) -> None:
    events = {e.sportradar_id: e for e in view.main.events}
    sportybet_listings = [x for x in view.listings["sportybet"] if x.event.sportradar_id in events]
    assert sportybet_listings
    checked_dnb = 0
    for listing in sportybet_listings[:80]:
        event = events[listing.event.sportradar_id]
        world = _world_quotes(event)
        pawa = _by_key(betpawa.parse_event(json.loads(json.dumps(render_event(event)))))
        sporty = _by_key(sportybet.parse_event(json.loads(json.dumps(render_sportybet_event(7, event, 0)))))
        assert pawa.keys() == world.keys()
        for key, quote in world.items():
            assert _chances(pawa[key]) == _chances(quote), key  # BetPawa's own numbers, exactly
        assert sporty and sporty.keys() <= world.keys()
        for key, quote in sporty.items():
            for name, (probability, refund) in _chances(quote).items():
                win, push = _chances(world[key])[name]
                assert win is not None and push is not None and probability is not None
                # the same upstream numbers, renormalised to "no push" (Draw No Bet), void 0
                assert probability == pytest.approx(win / (1 - push), abs=1e-10), (key, name)
                assert refund == 0.0
                if key[0] == MARKET_DRAW_NO_BET:
                    assert push > 0.0 and probability > win
                    checked_dnb += 1
                else:
                    assert probability == pytest.approx(win, abs=1e-10)
        competitor = {(q.market_id, q.line): q for q in competitor_quotes(7, "sportybet", event, 0)}
        prices_differ = any(
            a.price != b.price
            for k, q in competitor.items()
            for a, b in zip(q.outcomes, world[k].outcomes, strict=True)
        )
        assert prices_differ  # its own prices, the world's fair probabilities
    assert checked_dnb > 0


def test_rendered_shapes_are_each_books(view: BookView) -> None:
    event = view.main.events[0]
    pawa_prices = [p for _, p in _prices(render_event(event))]
    assert pawa_prices
    for price in pawa_prices:
        assert price["probability"].keys() == {"win", "refund"}
        assert all(isinstance(v, float) for v in price["probability"].values())
    listing = next(x for x in view.listings["sportybet"] if x.event.sportradar_id == event.sportradar_id)
    sporty = render_sportybet_event(7, listing.event, 0)["data"]["markets"]
    mapped = [o for m in sporty for o in m["outcomes"] if m["id"] not in ("800285", "900394")]
    assert mapped and all(isinstance(o["probability"], str) for o in mapped)
    assert {o["voidProbability"] for o in mapped} == {"0E-10"}
    b9 = next(x for x in view.listings["bet9ja"] if x.has_sportradar_id)
    assert "robability" not in json.dumps(render_bet9ja_event(7, b9, 0))
    parsed = bet9ja.parse_event(render_bet9ja_event(7, b9, 0))
    assert all(o.probability is None and o.refund_probability is None for q in parsed.markets for o in q.outcomes)
