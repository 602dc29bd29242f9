"""The stream view over a twin of the topic reader, in milliseconds: what it writes, in what shape.

The real broker, the cursor's resume and the worker's wiring are ``tests/integration/test_stream.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents import stream
from streams.clock import utc_now
from streams.cursor import Resume, resume
from streams.events import OddsChanged, derive_id, encode
from streams.ranges import RawRecord
from streams.tail import Overtaken, TailUnavailable
from tests.sse import Client


class _View:
    def json(self, body: Any, status: int = 200) -> web.Response:
        return web.json_response(body, status=status)


class _Tail:
    """Partitions as lists; each read hands out what was appended since the last one."""

    def __init__(self, log: dict[int, list[bytes | None]], started: Resume) -> None:
        self.log, self.started = log, started
        self.read_to = dict(started.positions)
        self.gone: dict[int, int] = {}  # partition -> its new first offset: retention passed the reader

    async def read(self, timeout_s: float) -> list[RawRecord]:
        if moved := {p: start for p, start in self.gone.items() if self.read_to[p] < start}:
            self.read_to.update(moved)
            raise Overtaken(moved)
        out = [
            RawRecord("t", p, o, None, self.log[p][o])
            for p, upto in self.read_to.items()
            for o in range(upto, len(self.log[p]))
        ]
        self.read_to = {p: len(self.log[p]) for p in self.read_to}
        if not out:
            await asyncio.sleep(min(timeout_s, 0.01))
        return out


def _change(i: int, sportradar_id: str = "61300947") -> bytes:
    return encode(
        OddsChanged(
            event_id=derive_id("view-test", i),
            sportradar_id=sportradar_id,
            bookmaker="sportybet",
            observed_at=utc_now(),
            caused_by=derive_id("cause", i),
            changes=[{"market_id": "3743", "line": None, "outcomes": [], "previous_outcomes": None}],
        )
    )


@asynccontextmanager
async def _server(
    log: dict[int, list[bytes | None]], **kw: Any
) -> AsyncIterator[tuple[str, stream.Streams, list[_Tail]]]:
    tails: list[_Tail] = []

    def opener(cursor: Mapping[int, int] | None) -> Any:
        @asynccontextmanager
        async def open_() -> AsyncIterator[_Tail]:
            if log.get(-1):
                raise TailUnavailable("no broker")
            ends = {p: len(records) for p, records in log.items()}
            tail = _Tail(log, resume(cursor, sorted(log), dict.fromkeys(log, 0), ends))
            tails.append(tail)
            yield tail

        return open_()

    s = stream.Streams(opener, **{"max_clients": 5, **kw})

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream.stream(_View(), request, s)  # type: ignore[arg-type]

    app = web.Application()
    app.router.add_get("/odds/stream", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/odds/stream")), s, tails
    finally:
        await s.close()
        await server.close()


async def test_changes_carry_the_cursor_past_them_and_bad_records_are_passed_over() -> None:
    log: dict[int, list[bytes | None]] = {0: [_change(0)], 1: []}
    async with _server(log) as (url, _, _), aiohttp.ClientSession() as session:
        client = Client(await session.get(url, params={"cursor": "p0:0.p1:0"}))
        assert (await client.first()).id == "p0:0.p1:0"
        later = _change(1)
        log[1] += [b"\x00garbage", None, later]
        got = await client.changes(2, timeout_s=5)
        assert [cursor for cursor, _ in got] == ["p0:1.p1:0", "p0:1.p1:3"]  # past the two bad ones
        assert got[1][1] == json.loads(later)
        client.close()


async def test_a_pretty_printed_record_is_sent_on_one_line() -> None:
    pretty = json.dumps(json.loads(_change(0)), indent=2).encode()
    assert b"\n" in pretty
    assert json.loads(stream.one_line(pretty)) == json.loads(pretty) and b"\n" not in stream.one_line(pretty)
    log: dict[int, list[bytes | None]] = {0: [pretty]}
    async with _server(log) as (url, _, _), aiohttp.ClientSession() as session:
        client = Client(await session.get(url, params={"cursor": "p0:0"}))
        await client.first()
        [(cursor, record)] = await client.changes(1, timeout_s=5)
        assert cursor == "p0:1" and record == json.loads(pretty)
        client.close()


async def test_an_idle_or_filtered_stream_sends_keepalives_that_move_the_cursor() -> None:
    log: dict[int, list[bytes | None]] = {0: []}
    async with _server(log, heartbeat_s=0.2) as (url, _, _), aiohttp.ClientSession() as session:
        resp = await session.get(url, params={"sportradar_id": "61300948"})
        client = Client(resp)
        assert (await client.first()).id == "p0:0"
        idle = await asyncio.wait_for(anext(client.messages), 5)
        assert idle.comments == ["keepalive"] and idle.id is None  # nothing passed over: no id
        log[0] += [_change(0, "61300947"), _change(1, "61300947")]  # not followed
        moved = await asyncio.wait_for(anext(client.messages), 5)
        assert moved.comments == ["keepalive"] and moved.id == "p0:2" and moved.event is None
        client.close()


async def test_over_the_bound_or_without_a_broker_it_answers_503_and_bad_input_400() -> None:
    log: dict[int, list[bytes | None]] = {0: []}
    async with _server(log, max_clients=1) as (url, s, _), aiohttp.ClientSession() as session:
        first = Client(await session.get(url))
        await first.first()
        assert s.clients == 1
        async with session.get(url) as resp:
            assert resp.status == 503 and "at most 1" in (await resp.json())["error"]
        first.close()
        for _ in range(100):
            if s.clients == 0:
                break
            await asyncio.sleep(0.05)
        assert s.clients == 0  # a gone client frees its place
        async with session.get(url, headers={"Last-Event-ID": "p0:x"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"].startswith("bad cursor")
        log[-1] = [b"down"]
        async with session.get(url) as resp:
            assert resp.status == 503 and s.clients == 0


async def test_a_client_overtaken_by_retention_is_told_to_reload_and_goes_on_from_the_earliest() -> None:
    log: dict[int, list[bytes | None]] = {0: [_change(0)], 1: [_change(1)]}
    async with _server(log) as (url, _, tails), aiohttp.ClientSession() as session:
        client = Client(await session.get(url, params={"cursor": "p0:0.p1:1"}))
        await client.first()
        assert [cursor for cursor, _ in await client.changes(1, timeout_s=5)] == ["p0:1.p1:1"]
        # before the reader comes back, offsets 1-2 arrive and retention removes offsets 0-2
        log[0] += [_change(2), _change(3), _change(4), _change(5)]
        tails[0].gone = {0: 3}
        reset = await asyncio.wait_for(anext(client.messages), 5)
        assert reset.event == "reset" and reset.id == "p0:3.p1:1"
        assert json.loads(reset.data[0])["partitions"] == [0]
        got = await client.changes(2, timeout_s=5)
        assert [cursor for cursor, _ in got] == ["p0:4.p1:1", "p0:5.p1:1"]
        assert [record for _, record in got] == [json.loads(v) for v in log[0][3:]]  # type: ignore[arg-type]
        client.close()
