"""Where each partition's log ends, on every broker we run.

``ListOffsets`` (aiokafka's ``end_offsets``) is what Kafka clients ask, and the embedded Tansu
broker answers it with the base offset of the newest batch + 1: below the true end whenever that
batch holds several records. The high-water mark inside a fetch response is right on both. So a
"read to the end" takes the greater of the two, and a reader that stops short is caught.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka import client_options
from streams.settings import Settings

__all__ = ["behind_live", "log_ends", "probe_ends", "topic_partitions", "true_end"]

PROBE_TIMEOUT_S = 15.0


async def topic_partitions(settings: Settings, names: Sequence[str]) -> list[TopicPartition]:
    """Every partition of these topics (missing topics have none)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return sorted(
        TopicPartition(d["topic"], p["partition"])
        for d in described
        if d.get("topic") in names and not d.get("error_code")
        for p in d.get("partitions", [])
    )


def true_end(listed: int | None, fetched: int | None) -> int:
    """The end of a log from what ``ListOffsets`` said and what a fetch's high-water mark said."""
    return max(listed or 0, fetched or 0)


async def probe_ends(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    listed: Mapping[TopicPartition, int],
    *,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> dict[TopicPartition, int]:
    """Fetch once from each partition (at its listed end less one) and read the high-water mark.

    ``consumer`` must have ``tps`` assigned; its positions are left where the probe put them, so
    seek afterwards. Raises ``TimeoutError`` when a partition's fetch never answers.
    """
    for tp in tps:
        consumer.seek(tp, max(int(listed.get(tp, 0)) - 1, 0))
    deadline = time.monotonic() + timeout_s
    fetched: dict[TopicPartition, int] = {}
    while True:
        for tp in tps:
            if tp not in fetched and (hw := consumer.highwater(tp)) is not None:
                fetched[tp] = int(hw)
        missing = [tp for tp in tps if tp not in fetched]
        if not missing:
            return {tp: true_end(listed.get(tp), fetched[tp]) for tp in tps}
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no fetch answered for {len(missing)} partitions, e.g. {missing[0]}")
        await consumer.getmany(*missing, timeout_ms=200, max_records=1)


async def log_ends(
    bootstrap_or_options: str | Mapping[str, Any],
    tps: Sequence[TopicPartition],
    *,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> dict[TopicPartition, int]:
    """The true end of each partition, asked by a consumer of its own (see the module docstring)."""
    if not tps:
        return {}
    options = (
        {"bootstrap_servers": bootstrap_or_options}
        if isinstance(bootstrap_or_options, str)
        else dict(bootstrap_or_options)
    )
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        consumer.assign(list(tps))
        listed = await consumer.end_offsets(list(tps))
        return await probe_ends(consumer, tps, listed, timeout_s=timeout_s)
    finally:
        await consumer.stop()


def behind_live(
    live: Mapping[tuple[str, str, int], int], ends: Mapping[tuple[str, int], int]
) -> list[tuple[str, str, int, int, int]]:
    """``(projection, topic, partition, applied, end)`` where a live projection applied an offset
    the topic no longer reaches: its event log lost records, and a rebuild would lose rows."""
    out = []
    for (name, topic, partition), applied in sorted(live.items()):
        end = ends.get((topic, partition), 0)
        if applied >= 0 and applied + 1 > end:
            out.append((name, topic, partition, applied, end))
    return out
