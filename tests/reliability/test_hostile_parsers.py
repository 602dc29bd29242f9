"""Hostile bookmaker answers: the three parsers fed mutated real samples (hypothesis).

A mutation replaces, deletes or retypes one node anywhere in a real event answer (several per
example). Every answer must end in exactly one of two ways: a ``ParsedEvent`` whose
``OddsObserved`` the consumers accept (``streams.events.decode``), with each dropped market counted
under a reason in ``unmapped``; or a ``SourceError`` naming its cause. Anything else (another
exception, or an event the consumers would dead-letter) fails the test. No broker needed.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.scrape import observed_event
from streams.events import InvalidEvent, OddsObserved, decode, encode
from streams.sources.model import SourceError
from streams.sources.registry import bookmaker as book

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLES = {
    "betpawa": ["betpawa.event.v4.json", "betpawa.event.synthetic.json"],
    "sportybet": ["sportybet.event.real.json", "sportybet.event_live.real.json"],
    "bet9ja": ["bet9ja.event.real.json", "bet9ja.event_live.real.json"],
}
EXAMPLES = int(os.environ.get("ODDSTREAM_RELIABILITY_FUZZ_EXAMPLES", "300"))
LISTED_SR_ID = "61300947"
"""The SportRadar id the event list gave, as the worker passes it with each event (Bet9ja's fallback)."""
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TALLY: dict[str, Counter[str]] = {bm: Counter() for bm in SAMPLES}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "0", "1.00", "-1", "NaN", "1e308", "2026-13-45T99:99:99", "null", "{}", "OK", "E"]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value if how == "replace" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "stringify":
        parent[last] = json.dumps(parent[last])
    elif how == "numberify" and isinstance(parent[last], str):
        parent[last] = len(parent[last])
    else:
        parent[last] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, bookmaker: str) -> Any:
    name = draw(st.sampled_from(SAMPLES[bookmaker]))
    doc = copy.deepcopy(json.loads((FIXTURES / name).read_text()))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "delete", "stringify", "numberify"]))
        doc = _mutate(doc, path, how, draw(json_value))
    return doc


def _check(bookmaker: str, payload: Any) -> None:
    try:
        parsed = book(bookmaker).parse(payload, LISTED_SR_ID)  # exactly the worker's parse
    except SourceError as exc:
        assert exc.bookmaker == bookmaker and exc.cause.strip(), repr(exc)
        # the parsers explain every refusal themselves; the worker's net for a parser gap is not hit
        assert not exc.cause.startswith("unparseable"), repr(exc)
        TALLY[bookmaker][f"rejected: {exc.cause[:60]}"] += 1
        return
    event = observed_event("fuzz-run", parsed, NOW)
    try:
        decode(encode(event), [OddsObserved])
    except InvalidEvent as exc:  # the parser accepted what every consumer would dead-letter
        raise AssertionError(f"{bookmaker} parsed an event the consumers reject: {exc.reason}") from exc
    assert all(isinstance(n, int) and n > 0 for n in parsed.unmapped.values()), parsed.unmapped
    TALLY[bookmaker]["accepted"] += 1
    for reason, n in parsed.unmapped.items():
        TALLY[bookmaker][f"market unmapped: {reason[:50]}"] += n


@pytest.mark.parametrize("bookmaker", sorted(SAMPLES))
def test_mutated_answers_parse_or_fail_with_a_reason(bookmaker: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated(bookmaker))
    def run(payload: Any) -> None:
        _check(bookmaker, payload)

    run()
    tally = TALLY[bookmaker]
    print(f"{bookmaker}: {sum(v for k, v in tally.items() if not k.startswith('market'))} answers", dict(tally))
    assert tally["accepted"] > 0 and any(k.startswith("rejected") for k in tally), tally


@pytest.mark.parametrize("bookmaker", sorted(SAMPLES))
@pytest.mark.parametrize("payload", [None, [], {}, "", 0, "<html>403 Forbidden</html>", {"data": None}])
def test_garbage_answers_are_rejected_with_a_reason(bookmaker: str, payload: Any) -> None:
    with pytest.raises(SourceError) as caught:
        book(bookmaker).parse(payload, LISTED_SR_ID)
    assert caught.value.cause.strip() and not caught.value.cause.startswith("unparseable")
