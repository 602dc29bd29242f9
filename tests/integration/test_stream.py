"""``GET /odds/stream`` on a real broker and a running worker: live changes, an exact resume from
``Last-Event-ID`` (nothing twice, nothing lost), a filter, a reset, the client bound, bad cursors."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from streams.clock import utc_now
from streams.cursor import decode
from streams.events import OddsChanged, derive_id, encode
from streams.settings import Settings
from tests.integration.conftest import Processes
from tests.sse import Client

pytestmark = pytest.mark.integration

EVENTS = ["61300947", "61300948", "61300949", "61300950", "61300951"]


def _change(i: int, sportradar_id: str) -> OddsChanged:
    return OddsChanged(
        event_id=derive_id("stream-test", i),
        sportradar_id=sportradar_id,
        bookmaker="betpawa",
        observed_at=utc_now(),
        caused_by=derive_id("observed", i),
        changes=[
            {
                "market_id": "3743",
                "line": None,
                "outcomes": [{"name": "1", "price": round(2 + i / 100, 2), "suspended": False}],
                "previous_outcomes": None,
            }
        ],
    )


async def test_a_client_gets_changes_live_and_exactly_what_it_missed_on_reconnect(
    procs: Processes, settings: Settings
) -> None:
    settings = settings.with_(stream_max_clients=2)
    procs.settings = settings
    worker = procs.worker()
    url = f"http://127.0.0.1:{settings.web_port}/odds/stream"
    topic = settings.topic("odds.changes")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    produced: list[OddsChanged] = []

    async def produce(n: int, garbage: bytes | None = None) -> list[OddsChanged]:
        batch = [_change(len(produced) + k, EVENTS[(len(produced) + k) % len(EVENTS)]) for k in range(n)]
        produced.extend(batch)
        for k, ev in enumerate(batch):
            await producer.send_and_wait(topic, encode(ev), key=ev.sportradar_id.encode())
            if garbage is not None and k == 1:  # a bad record between good ones stops nothing
                await producer.send_and_wait(topic, garbage, key=ev.sportradar_id.encode())
        return batch

    def ids(changes: list[tuple[str, dict]]) -> list[str]:
        return [c["event_id"] for _, c in changes]

    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            # live: no cursor -> the end of the log; the first message carries the starting cursor
            live = Client(await session.get(url))
            assert live.resp.status == 200
            assert live.resp.headers["Content-Type"].startswith("text/event-stream")
            start = await live.first()
            assert start.event is None and start.id is not None
            assert set(decode(start.id)) == {0, 1, 2, 3} and all(o == 0 for o in decode(start.id).values())
            first_batch = await produce(5, garbage=b"{not json")
            got = await live.changes(5)
            assert sorted(ids(got)) == sorted(ev.event_id for ev in first_batch)  # the bad record skipped
            by_id = {ev.event_id: json.loads(encode(ev)) for ev in first_batch}
            assert all(record == by_id[record["event_id"]] for _, record in got)  # as on the topic
            last_seen = got[-1][0]
            live.close()

            # missed while away; the reconnect names the last id it saw (its URL still has ?cursor=)
            missed = await produce(6)
            back = Client(await session.get(url, params={"cursor": start.id}, headers={"Last-Event-ID": last_seen}))
            assert (await back.first()).id == last_seen
            again = await back.changes(6)
            assert sorted(ids(again)) == sorted(ev.event_id for ev in missed)
            sentinel = await produce(1)
            assert ids(await back.changes(1)) == [sentinel[0].event_id]  # nothing twice, nothing extra
            for sr in EVENTS:  # each event's changes in the order they were produced
                order = [c["event_id"] for _, c in got + again if c["sportradar_id"] == sr]
                assert order == [ev.event_id for ev in produced[:11] if ev.sportradar_id == sr]

            # a filter: only one event's changes, from the first cursor
            one = Client(await session.get(url, params={"cursor": start.id, "sportradar_id": EVENTS[1]}))
            await one.first()
            want = [ev.event_id for ev in produced if ev.sportradar_id == EVENTS[1]]
            assert ids(await one.changes(len(want))) == want

            # two streams open: a third is refused
            async with session.get(url) as third:
                assert third.status == 503 and "error" in await third.json()
            back.close()
            one.close()

            # a cursor past the log's end (a recreated topic): reset, then the partition from its start
            await asyncio.sleep(1.5)  # the closed streams notice within a poll
            beyond = Client(await session.get(url, params={"cursor": "p0:999999.p1:0.p2:0.p3:0"}))
            reset = await beyond.first()
            assert reset.event == "reset", reset
            body = json.loads(reset.data[0])
            assert body["partitions"] == [0] and body["reload"] is True and reset.id == body["cursor"]
            assert decode(reset.id)[0] == 0
            beyond.close()

            for bad in ("garbage", "p0:1.p0:2", "p0:-1"):
                async with session.get(url, params={"cursor": bad}) as resp:
                    assert resp.status == 400, bad
                    assert "cursor" in (await resp.json())["error"]
            async with session.get(url, headers={"Last-Event-ID": "p1:2.p0:1"}) as resp:
                assert resp.status == 400
            async with session.get(url, params={"sportradar_id": "sr:match:1"}) as resp:
                assert resp.status == 400

            # a worker stopping with a stream open ends it and exits by itself (no kill)
            last = Client(await session.get(url))
            await last.first()
            t0 = asyncio.get_running_loop().time()
            code = await asyncio.to_thread(worker.stop, 30.0)
            assert code == 0, worker.log_tail(40)
            assert await asyncio.wait_for(last.resp.content.read(), 5) == b""  # the stream ended
            assert asyncio.get_running_loop().time() - t0 < 30
        finally:
            await producer.stop()
