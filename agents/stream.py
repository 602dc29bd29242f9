"""``GET /odds/stream``: every board change as Server-Sent Events, resumable from a cursor.

Each connection reads ``odds.changes`` itself (``streams.tail``: every partition assigned by hand,
no group, no commits), so any worker serves any client, for all partitions. What it sends:

    retry: 3000                     once, first: how long a browser waits before reconnecting
    id: p0:12.p1:40.p2:7.p3:0       the cursor where the stream starts (no event is dispatched)

    id: p0:13.p1:40.p2:7.p3:0       one message per OddsChanged: the cursor just past its record,
    event: change                   and the record's JSON as on the topic, on one line
    data: {"event_type":"OddsChanged",...}

    event: reset                    instead of the first id, when the cursor cannot be resumed
    id: ...                         exactly (retention removed what it points at), or later when
    data: {"reason": ..., ...}      retention overtakes a connected client: the stream goes on from
                                    the earliest record held; the client reloads the board

    : keepalive                     every ``heartbeat_s`` without a message (with an ``id:`` when
                                    records were passed over since the last id sent)

The cursor (``streams.cursor``) comes from the ``Last-Event-ID`` header (a browser's reconnect),
else ``?cursor=`` (a first connect); neither: the end of the log (live only). ``?sportradar_id=``
(repeatable) sends only those events' changes; the cursor moves over every record. A record that
is not a valid ``OddsChanged`` is passed over and counted (``stream_records_skipped``), never sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import structlog
from aiohttp import web
from faust.web import Request, Response, View

from streams import engine, topics
from streams.cursor import CursorError, advance, decode, encode
from streams.ranges import RawRecord
from streams.settings import Settings
from streams.tail import Overtaken, Tail, TailUnavailable, open_tail
from streams.wire import read_changed

__all__ = ["HEARTBEAT_S", "Streams", "change_message", "one_line", "stream"]

log = structlog.get_logger(__name__)

HEARTBEAT_S = 15.0
"""Proxies close a connection idle for 30-60 s; a comment line this often keeps it open."""
POLL_S = 1.0
"""The longest one read waits: how soon a gone client or a stopping worker is noticed when idle."""
RETRY_MS = 3000

OpenTail = Callable[[Mapping[int, int] | None], AbstractAsyncContextManager[Tail]]


@dataclass(slots=True)
class Streams:
    """One worker's open streams: how to open a reader, how many may be open, and when to stop."""

    open: OpenTail
    max_clients: int
    heartbeat_s: float = HEARTBEAT_S
    clients: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def of(cls, settings: Settings) -> Streams:
        """Streams of ``settings``' ``odds.changes``, at most ``stream_max_clients`` at once."""
        topic = settings.topic(topics.CHANGES.name)
        return cls(partial(open_tail, settings, topic), settings.stream_max_clients)

    async def close(self) -> None:
        """End every open stream (the worker is stopping); each returns within ``POLL_S``."""
        self.closing.set()


def one_line(raw: bytes) -> bytes:
    """A JSON record on one line: SSE ends a data field at a line break (JSON whitespace only:
    a string cannot hold a raw one), so a record a producer pretty-printed is written compactly."""
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()


def change_message(cursor: str, data: bytes) -> bytes:
    """The SSE message of one change: its cursor as the id, ``event: change``, the record."""
    return b"id: " + cursor.encode() + b"\nevent: change\ndata: " + data + b"\n\n"


def _reset_message(cursor: str, reason: str, partitions: tuple[int, ...]) -> bytes:
    body = {"reason": reason, "partitions": list(partitions), "cursor": cursor, "reload": True}
    return f"id: {cursor}\nevent: reset\ndata: {json.dumps(body)}\n\n".encode()


def _wanted(request: web.Request) -> frozenset[str]:
    ids = request.query.getall("sportradar_id", [])
    bad = [i for i in ids if not (i.isascii() and i.isdigit())]
    if bad:
        raise ValueError(f"sportradar_id must be digits, got {bad[0]!r}")
    return frozenset(ids)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    skipped: int = 0
    filtered: int = 0
    bytes: int = 0


async def stream(view: View, request: Request, s: Streams) -> Response:
    """``GET /odds/stream``: 400 for a bad cursor or filter, 503 over ``max_clients`` or without
    a broker, else ``text/event-stream`` until the client goes away or the worker stops."""
    req = engine.aiohttp_request(request)
    raw_cursor = req.headers.get("Last-Event-ID") or req.query.get("cursor")
    try:
        cursor = decode(raw_cursor) if raw_cursor else None
        wanted = _wanted(req)
    except (CursorError, ValueError) as exc:
        return view.json({"error": f"bad cursor: {exc}" if isinstance(exc, CursorError) else str(exc)}, status=400)
    if s.clients >= s.max_clients:
        return view.json({"error": f"too many open streams on this worker (at most {s.max_clients})"}, status=503)
    s.clients += 1
    try:
        async with AsyncExitStack() as stack:
            try:
                tail = await stack.enter_async_context(s.open(cursor))
            except TailUnavailable as exc:
                return view.json({"error": str(exc)}, status=503)
            return cast(Response, await _serve(req, tail, wanted, s))
    finally:
        s.clients -= 1


async def _serve(req: web.Request, tail: Tail, wanted: frozenset[str], s: Streams) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await resp.prepare(req)
    started = tail.started
    position = dict(started.positions)
    sent_id = encode(position)
    log.info(
        "stream_opened",
        resumed=req.headers.get("Last-Event-ID") is not None or "cursor" in req.query,
        exact=started.exact,
        filter=len(wanted),
        clients=s.clients,
    )
    if not started.exact:
        log.warning("stream_cursor_reset", reason=started.reason, partitions=list(started.reset))
        first = _reset_message(sent_id, started.reason, started.reset)
    else:
        first = f"id: {sent_id}\n\n".encode()
    tally, t0, why = _Tally(), time.monotonic(), "client gone"
    try:
        await resp.write(f"retry: {RETRY_MS}\n".encode() + first)
        last_write = time.monotonic()
        while True:
            if s.closing.is_set():
                why = "worker stopping"
                break
            if _gone(req):
                break
            wait = min(POLL_S, max(0.0, last_write + s.heartbeat_s - time.monotonic()))
            try:
                records = await tail.read(wait)
            except Overtaken as lost:  # retention passed this client while it was connected
                position = {**position, **lost.positions}
                sent_id = encode(position)
                reason = f"records not yet sent are gone (retention) on partitions {sorted(lost.positions)}"
                log.warning("stream_cursor_reset", reason=reason, partitions=sorted(lost.positions))
                await resp.write(_reset_message(sent_id, reason, tuple(sorted(lost.positions))))
                last_write = time.monotonic()
                continue
            out, position, last_id = _batch(records, position, wanted, tally)
            if last_id is not None:
                sent_id = last_id
            elif time.monotonic() - last_write >= s.heartbeat_s:
                moved = encode(position)
                out += b": keepalive\n" + (f"id: {moved}\n".encode() if moved != sent_id else b"") + b"\n"
                sent_id = moved
            if out:
                await resp.write(bytes(out))
                tally.bytes += len(out)
                last_write = time.monotonic()
    except ConnectionError:
        pass  # the client went away mid-write
    finally:
        log.info(
            "stream_closed",
            why=why,
            sent=tally.sent,
            skipped=tally.skipped,
            filtered=tally.filtered,
            bytes=tally.bytes,
            seconds=round(time.monotonic() - t0, 1),
        )
    return resp


def _batch(
    records: list[RawRecord], position: dict[int, int], wanted: frozenset[str], tally: _Tally
) -> tuple[bytearray, dict[int, int], str | None]:
    """The messages of one read, the cursor past it, and the id of its last message (None: none
    sent). Records that are not valid changes are passed over: one log line per read says how many."""
    out = bytearray()
    last_id: str | None = None
    skipped: list[tuple[RawRecord, str]] = []
    for rec in records:
        position = advance(position, rec.partition, rec.offset)
        try:
            if rec.value is None:
                raise ValueError("no value")
            change = read_changed(rec.value)
            data = one_line(rec.value)
        except ValueError as exc:  # InvalidEvent, not JSON: counted, never sent
            skipped.append((rec, str(exc)))
            continue
        if wanted and change.sportradar_id not in wanted:
            tally.filtered += 1
            continue
        last_id = encode(position)
        out += change_message(last_id, data)
        tally.sent += 1
    if skipped:
        tally.skipped += len(skipped)
        first, reason = skipped[0]
        log.warning(
            "stream_records_skipped",
            count=len(skipped),
            partition=first.partition,
            offset=first.offset,
            reason=reason[:200],
        )
    return out, position, last_id
