"""The judge itself: a table that lost, doubled or bent a row is never found clean."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.reliability.harness import Expected, judge_tables, judge_topic, observations

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _tables(exp: Expected) -> tuple[list[tuple], dict]:
    hist = [(k, v) for k, v in exp.history.items()]
    return hist, dict(exp.current_rows())


def test_the_fold_is_deterministic_and_sees_changes_and_withdrawals() -> None:
    stream = [o for batch in observations(3, 5, 4, T0) for o in batch]
    a, b = Expected.fold(stream), Expected.fold(stream)
    assert a.history == b.history and a.observed == 60
    assert any(row[2] == [] for row in a.history.values()), "no quote was ever withdrawn"
    assert any(row[3] is None for row in a.history.values()) and any(row[3] for row in a.history.values())


def test_an_exact_table_is_clean_and_every_fault_is_counted() -> None:
    exp = Expected.fold(o for batch in observations(4, 5, 4, T0) for o in batch)
    hist, cur = _tables(exp)
    assert judge_tables(exp, hist, cur).clean

    v = judge_tables(exp, hist[1:], cur)
    assert (v.lost, v.doubled) == (1, 0) and not v.clean

    v = judge_tables(exp, [*hist, hist[0]], cur)
    assert (v.lost, v.doubled) == (0, 1)

    key, row = hist[0]
    bent = [(key, (*row[:3], [{"name": "x", "price": 2.0, "suspended": False}], *row[4:])), *hist[1:]]
    assert judge_tables(exp, bent, cur).wrong_history == 1

    stray = [*hist, (("00000000-0000-0000-0000-000000000000", "3743", None), row)]
    assert judge_tables(exp, stray, cur).doubled == 1

    some = next(iter(cur))
    assert judge_tables(exp, hist, {k: v for k, v in cur.items() if k != some}).wrong_current == 1


def test_the_projection_is_judged_against_the_topic_alone() -> None:
    exp = Expected.fold(o for batch in observations(5, 4, 3, T0) for o in batch)
    hist, cur = _tables(exp)
    v = judge_tables(exp, hist, cur)
    judge_topic(v, dict(exp.history), hist[2:])
    assert v.topic_lost == 2 and not v.projection_exact
    v = judge_tables(exp, hist, cur)
    judge_topic(v, dict(exp.history), [*hist, hist[0]])
    assert v.topic_doubled == 1
