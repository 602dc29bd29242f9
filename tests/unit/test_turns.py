"""``in_turns``: every item in order, and the event loop gets a turn every ``every`` items."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.turns import in_turns


async def _drain(items: list[int], every: int) -> tuple[list[int], list[int]]:
    """The items seen, and at which item positions a task scheduled alongside got to run."""
    seen: list[int] = []
    ran_at: list[int] = []

    async def other() -> None:
        while True:
            ran_at.append(len(seen))
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    try:
        async for item in in_turns(items, every):
            seen.append(item)
    finally:
        task.cancel()
    return seen, ran_at


@given(st.lists(st.integers(), max_size=200), st.integers(min_value=1, max_value=40))
def test_every_item_in_order_and_a_turn_every_few(items: list[int], every: int) -> None:
    seen, ran_at = asyncio.run(_drain(items, every))
    assert seen == items
    # the other task runs exactly at the multiples of ``every`` (and never in between)
    assert ran_at == list(range(every, len(items) + 1, every))


def test_every_must_be_positive() -> None:
    async def first() -> None:
        async for _ in in_turns([1], 0):
            pass

    with pytest.raises(ValueError, match="at least 1"):
        asyncio.run(first())
