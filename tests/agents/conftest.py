"""Agent-level tests: the worker exactly as the composition root wires it, each agent driven through
Faust's ``test_context()`` (in-memory channels, memory tables), with twins for what lies beyond the
process: a recording outbox, a broker log to read gaps from, a journal of table writes, the in-memory
projection store. No broker, no database, no process: milliseconds per invariant.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faust.types import AgentT
from faust.types.tuples import Message

from oddstream.app import Edges, Worker, create_app
from projections.memory import MemoryStore
from streams.engine import TableWrite
from streams.ranges import RawRecord
from streams.settings import Settings
from tests.doubles import Journal, Log, RecordingOutbox

PARTITIONS = 4


@dataclass
class Harness:
    worker: Worker
    outbox: RecordingOutbox
    journal: Journal
    log: Log
    store: MemoryStore
    settings: Settings

    @asynccontextmanager
    async def running(self, name: str) -> AsyncIterator[AgentT[Any]]:
        """Agent ``name`` started on an in-memory channel, stopped (and drained) on exit."""
        async with self.worker.agents[name].test_context() as agent:
            yield agent

    async def deliver(self, agent: AgentT[Any], records: Sequence[RawRecord]) -> None:
        """Hand ``records`` to the agent as its consumer would: each with its topic, partition and offset."""
        channel = agent.stream().channel  # type: ignore[attr-defined]
        generation = self.worker.app.consumer_generation_id  # a stream drops records of another generation
        for r in records:
            message = Message(
                r.topic,
                r.partition,
                r.offset,
                time.time(),
                0,
                None,
                r.key,
                r.value,
                None,
                0,
                0,
                generation_id=generation,
            )
            await channel.put(await channel.decode(message))


async def until(check: Callable[[], Any], timeout_s: float = 3.0) -> Any:
    """Poll ``check`` until it returns something true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {check}")
        await asyncio.sleep(0.01)


def close_idle_consumer(worker: Worker) -> None:
    """Close the event loop Faust made for a consumer thread that never ran (test_context() acks through
    the app's consumer, which builds its thread's loop at once); left open it is a ResourceWarning."""
    consumer = worker.app.consumer
    loop = consumer._thread.thread_loop  # type: ignore[attr-defined]
    if not loop.is_running() and not loop.is_closed():
        loop.close()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings.from_env(
        {
            "ODDSTREAM_KAFKA_URL": "kafka://127.0.0.1:9",  # never dialled: test_context() starts no consumer
            "ODDSTREAM_DATA_DIR": str(tmp_path),
            "ODDSTREAM_TOPIC_PARTITIONS": str(PARTITIONS),
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
            "ODDSTREAM_STALE_AFTER_S": "600",
        }
    )
    journal = Journal()
    outbox = RecordingOutbox(journal)
    log = Log(PARTITIONS)
    store = MemoryStore()

    async def write_table(table: Any, writes: Sequence[TableWrite]) -> None:
        for _partition, key, value in writes:
            table.data[key] = value
            journal.add("write", key)

    worker = create_app(settings, Edges(outbox=outbox, read_range=log.read_range, write_table=write_table, store=store))
    worker.app.finalize()
    worker.app.flow_control.resume()
    yield Harness(worker, outbox, journal, log, store, settings)
    close_idle_consumer(worker)
