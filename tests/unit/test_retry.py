"""streams.retry.until_done: a step that must happen is retried until it does, never skipped."""

from __future__ import annotations

import asyncio

import pytest

from streams.retry import until_done


async def test_a_failing_step_is_retried_until_it_succeeds_and_its_result_returned() -> None:
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("broker away")
        return "done"

    assert await until_done("test step", step, first_delay_s=0.001, max_delay_s=0.002) == "done"
    assert calls == 4


async def test_cancellation_is_not_retried() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await until_done("test step", step, first_delay_s=0.001)
    assert calls == 1
