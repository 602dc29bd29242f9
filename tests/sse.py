"""A Server-Sent Events client for the tests: messages parsed as a browser's EventSource does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


async def _messages(resp: aiohttp.ClientResponse) -> AsyncIterator[Message]:
    """The SSE messages of ``resp`` (a blank line ends each), as a browser's EventSource parses them."""
    msg = Message()
    while line := await resp.content.readline():
        text = line.decode().rstrip("\r\n")
        if not text:
            yield msg
            msg = Message()
            continue
        name, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            msg.comments.append(value)
        elif name == "id":
            msg.id = value
        elif name == "event":
            msg.event = value
        elif name == "data":
            msg.data.append(value)


class Client:
    """One open stream: its first message (the starting cursor, or a reset) and what follows."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.messages = _messages(resp)

    async def first(self) -> Message:
        return await asyncio.wait_for(anext(self.messages), 15)

    async def changes(self, n: int, timeout_s: float = 30.0) -> list[tuple[str, dict]]:
        """The next ``n`` change messages as (id, the record's JSON), comments skipped."""
        out: list[tuple[str, dict]] = []
        async with asyncio.timeout(timeout_s):
            while len(out) < n:
                msg = await anext(self.messages)
                if msg.event == "change":
                    assert msg.id is not None and len(msg.data) == 1, msg
                    out.append((msg.id, json.loads(msg.data[0])))
        return out

    def close(self) -> None:
        self.resp.close()
