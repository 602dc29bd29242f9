"""BetPawaClient against a tiny in-process loopback server: paging, headers, retries, failures."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streams.sources.betpawa import LIST_PATH, BetPawaClient
from streams.sources.model import SourceError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    def __init__(self) -> None:
        self.calls: list[web.Request] = []
        self.routes: dict[str, Handler] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(request)
        return await self.routes[request.path](request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _client(url: str, session: aiohttp.ClientSession, sleeps: Sleeps, **kw: Any) -> BetPawaClient:
    return BetPawaClient(url, session, sleep=sleeps, **kw)


def _sequence(*responses: Callable[[], web.StreamResponse]) -> Handler:
    remaining = list(responses)

    async def handler(request: web.Request) -> web.StreamResponse:
        return remaining.pop(0)() if len(remaining) > 1 else remaining[0]()

    return handler


EVENT = "/api/sportsbook/v4/events/123"


async def test_fetch_event_sends_headers(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[EVENT] = _sequence(lambda: web.json_response({"id": "123"}))
    assert await _client(server.url, session, Sleeps()).fetch_event("123") == {"id": "123"}
    headers = server.calls[0].headers
    assert headers["x-pawa-brand"] == "betpawa-nigeria"
    assert headers["devicetype"] == "web"
    assert headers["accept"] == "application/json"
    assert "Chrome" in headers["user-agent"]


@pytest.mark.parametrize("status", [500, 502, 503, 403])
async def test_retries_transient_statuses_then_succeeds(
    server: Server, session: aiohttp.ClientSession, status: int
) -> None:
    server.routes[EVENT] = _sequence(
        lambda: web.Response(status=status),
        lambda: web.Response(status=status),
        lambda: web.json_response({"id": "123"}),
    )
    sleeps = Sleeps()
    assert await _client(server.url, session, sleeps, backoff_s=1.0).fetch_event("123") == {"id": "123"}
    assert len(server.calls) == 3
    assert len(sleeps.delays) == 2
    assert 0.5 <= sleeps.delays[0] <= 1.5 and 1.0 <= sleeps.delays[1] <= 3.0  # jittered, exponential


async def test_gives_up_after_three_attempts(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[EVENT] = _sequence(lambda: web.Response(status=503))
    with pytest.raises(SourceError) as info:
        await _client(server.url, session, Sleeps()).fetch_event("123")
    assert (info.value.bookmaker, info.value.endpoint) == ("betpawa", "event")
    assert "http 503" in info.value.cause and "3 attempts" in info.value.cause
    assert len(server.calls) == 3


async def test_404_is_gone_without_retry(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[EVENT] = _sequence(lambda: web.json_response({"error": "NOT_FOUND"}, status=404))
    with pytest.raises(SourceError) as info:
        await _client(server.url, session, Sleeps()).fetch_event("123")
    assert info.value.cause == "gone"
    assert len(server.calls) == 1


async def test_400_is_not_retried(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[EVENT] = _sequence(lambda: web.Response(status=400))
    with pytest.raises(SourceError, match="http 400"):
        await _client(server.url, session, Sleeps()).fetch_event("123")
    assert len(server.calls) == 1


async def test_timeout_is_retried(server: Server, session: aiohttp.ClientSession) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response({"id": "123"})

    server.routes[EVENT] = slow
    with pytest.raises(SourceError) as info:
        await _client(server.url, session, Sleeps(), timeout_s=0.05).fetch_event("123")
    assert "timeout" in info.value.cause
    assert len(server.calls) == 3


async def test_connection_refused_is_source_error(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects
    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        await _client(f"http://127.0.0.1:{port}", session, sleeps).fetch_event("123")
    assert "connection error" in info.value.cause
    assert len(sleeps.delays) == 2


async def test_non_json_and_bad_json(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[EVENT] = _sequence(
        lambda: web.Response(body=b"\x0a\x01", headers={"content-type": "application/x-protobuf"}),
        lambda: web.Response(body=b"{nope", content_type="application/json"),
        lambda: web.json_response(["not", "an", "event"]),
    )
    client = _client(server.url, session, Sleeps())
    with pytest.raises(SourceError, match="not JSON"):
        await client.fetch_event("123")
    with pytest.raises(SourceError, match="bad JSON"):
        await client.fetch_event("123")
    with pytest.raises(SourceError, match="not an event"):
        await client.fetch_event("123")
    with pytest.raises(SourceError, match="bad event id"):
        await client.fetch_event("../etc")


@pytest.mark.parametrize(("total", "pages"), [(0, 4), (99, 4), (399, 4), (400, 8), (850, 12)])
async def test_discovery_pages_in_waves_until_a_short_page(
    server: Server, session: aiohttp.ClientSession, total: int, pages: int
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        query = json.loads(request.query["q"])["queries"][0]
        assert query["query"]["zones"] == {} and "view" in query
        skip, take = query["skip"], query["take"]
        assert take == 100
        items = [{"id": str(10_000_000 + i)} for i in range(skip, min(skip + take, total))]
        return web.json_response({"responses": [{"responses": items}]})

    server.routes[LIST_PATH] = handler
    errors: list[SourceError] = []
    targets = await _client(server.url, session, Sleeps()).discover(errors)
    assert sorted(t.event_id for t in targets) == [str(10_000_000 + i) for i in range(total)]
    assert {t.bookmaker for t in targets} <= {"betpawa"} and errors == []
    assert len(server.calls) == pages  # whole waves of 4 pages, the last holding the short page


async def test_discovery_page_errors_are_source_errors(server: Server, session: aiohttp.ClientSession) -> None:
    server.routes[LIST_PATH] = _sequence(lambda: web.json_response({"responses": "nope"}))
    errors: list[SourceError] = []
    assert await _client(server.url, session, Sleeps()).discover(errors) == []
    assert errors and all(e.endpoint == "events/lists/by-queries" for e in errors)
