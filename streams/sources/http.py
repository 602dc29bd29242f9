"""One bookmaker's HTTP edge: a shared session, a concurrency limit, a delay, timeouts and retries.

``JsonClient`` is what the SportyBet and Bet9ja clients (and any later one) talk through. Timeouts,
connection errors, 5xx, 403 (throttling) and 2xx-without-JSON (SportyBet's 202 soft block) are retried
with jittered exponential backoff; a 404 is ``SourceError(cause="gone")``; every failure surfaces as
``SourceError(bookmaker, endpoint, cause)``, so the scrape can report it and go on.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog

from streams.metrics import observe_request
from streams.sources.model import SourceError

__all__ = ["JsonClient"]

log = structlog.get_logger(__name__)


class _Retryable(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class JsonClient:
    """JSON over HTTP for one bookmaker, at most ``concurrency`` requests in flight.

    ``delay_s`` is slept after every request while still holding its slot (Bet9ja: 25 ms), which is
    how the reference paces the most rate-sensitive book.
    """

    def __init__(
        self,
        bookmaker: str,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        headers: Mapping[str, str],
        concurrency: int = 50,
        delay_s: float = 0.0,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        require_json_type: bool = False,
    ) -> None:
        if concurrency < 1 or attempts < 1:
            raise ValueError("concurrency and attempts must be >= 1")
        self.bookmaker = bookmaker
        # a 2xx whose content type is not JSON is a SourceError, not retried (BetPawa answers
        # another format when a required header is missing)
        self._require_json_type = require_json_type
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._headers = dict(headers)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._delay_s = delay_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.requests = 0
        self.retries = 0

    async def get_json(self, endpoint: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self._call("GET", endpoint, path, params, None)

    async def post_json(self, endpoint: str, path: str, body: object) -> Any:
        return await self._call("POST", endpoint, path, None, body)

    async def _call(self, method: str, endpoint: str, path: str, params: Mapping[str, str] | None, body: object) -> Any:
        url = self._base_url + path
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._semaphore:
                    try:
                        with observe_request(self.bookmaker, endpoint):
                            return await self._once(method, endpoint, url, params, body)
                    finally:
                        if self._delay_s > 0:
                            await self._sleep(self._delay_s)
            except _Retryable as exc:
                if attempt == self._attempts:
                    raise SourceError(self.bookmaker, endpoint, f"{exc.cause} (after {attempt} attempts)") from exc
                self.retries += 1
                delay = self._backoff_s * 2 ** (attempt - 1) * self._rng.uniform(0.5, 1.5)
                log.info("source.retry", bookmaker=self.bookmaker, endpoint=endpoint, cause=exc.cause, delay_s=delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, endpoint: str, url: str, params: Mapping[str, str] | None, body: object) -> Any:
        self.requests += 1
        try:
            async with self._session.request(
                method, url, params=params, json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                status = response.status
                if status == 404:
                    raise SourceError(self.bookmaker, endpoint, "gone")
                if status == 403 or status >= 500:
                    raise _Retryable(f"http {status}")
                if not 200 <= status < 300:
                    raise SourceError(self.bookmaker, endpoint, f"http {status}")
                content_type = response.headers.get("content-type", "")
                if self._require_json_type and "json" not in content_type.lower():
                    raise SourceError(self.bookmaker, endpoint, f"not JSON (content-type {content_type!r})")
                raw = await response.read()
        except TimeoutError as exc:
            raise _Retryable("timeout") from exc
        except aiohttp.ClientConnectionError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise SourceError(self.bookmaker, endpoint, f"client error: {type(exc).__name__}: {exc}") from exc
        if not raw.strip():
            raise _Retryable(f"blocked (http {status} with an empty body)")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(self.bookmaker, endpoint, f"bad JSON (http {status}, {len(raw)} bytes)") from exc
