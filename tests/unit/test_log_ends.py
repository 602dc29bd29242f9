"""The rules behind "read to the end" and "refuse a rebuild from a log that lost records"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oddstream.runtime.embedded import BrokerChoice, EmbeddedBrokerError, choose_broker
from streams.ends import behind_live, true_end


@given(st.one_of(st.none(), st.integers(0, 10**9)), st.one_of(st.none(), st.integers(0, 10**9)))
def test_the_end_is_never_below_either_answer(listed: int | None, fetched: int | None) -> None:
    end = true_end(listed, fetched)
    assert end >= (listed or 0) and end >= (fetched or 0)
    assert end in {listed or 0, fetched or 0}


def test_a_listed_end_below_the_fetched_high_water_mark_gives_the_high_water_mark() -> None:
    # Tansu: the newest batch holds records 190..199; ListOffsets answers its base offset + 1
    assert true_end(191, 200) == 200
    assert true_end(200, None) == 200


def test_a_log_that_reaches_every_applied_offset_is_not_behind() -> None:
    live = {("odds-changes", "odds.changes", 0): 99, ("odds-changes", "odds.changes", 1): -1}
    assert behind_live(live, {("odds.changes", 0): 100, ("odds.changes", 1): 0}) == []
    assert behind_live(live, {("odds.changes", 0): 250}) == []


def test_a_log_that_ends_before_an_applied_offset_is_behind_with_the_figures() -> None:
    live = {("odds-changes", "odds.changes", 0): 99, ("runs", "odds.runs", 3): 7}
    assert behind_live(live, {("odds.changes", 0): 99, ("odds.runs", 3): 8}) == [
        ("odds-changes", "odds.changes", 0, 99, 99)
    ]
    # a topic gone altogether (a broker that kept nothing) ends at 0
    assert behind_live(live, {}) == [("odds-changes", "odds.changes", 0, 99, 0), ("runs", "odds.runs", 3, 7, 0)]


@pytest.mark.parametrize(
    ("setting", "java", "kind"),
    [("auto", 17, "kafka"), ("auto", None, "tansu"), ("kafka", 21, "kafka"), ("tansu", 21, "tansu")],
)
def test_the_embedded_broker_follows_the_setting_and_the_java_found(setting: str, java: int | None, kind: str) -> None:
    choice = choose_broker(setting, java, "PATH" if java else None)
    assert isinstance(choice, BrokerChoice) and choice.kind == kind
    assert choice.why


def test_auto_without_java_says_how_to_get_kafka() -> None:
    assert "embedded-kafka" in choose_broker("auto", None).why


def test_kafka_asked_for_without_java_is_a_one_line_error() -> None:
    with pytest.raises(EmbeddedBrokerError) as caught:
        choose_broker("kafka", None)
    assert "\n" not in str(caught.value) and "Java" in str(caught.value)
