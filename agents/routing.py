"""Any worker answers any request: forward key lookups to the owner, gather lists from every worker.

Tables are partitioned like their source topics (``streams.topics.TableSpec``), so the owner of a
key is the worker assigned that key's partition of the source topic. Lists are gathered: each worker
answers ``?scope=local`` with the rows of the partitions it actively owns (the memory store keeps
revoked partitions' rows, so ownership is checked here), and the worker that took the request merges
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import structlog
from faust.exceptions import NotReady, SameNode
from faust.types import AppT, TopicT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

from streams import engine
from streams.topics import TableSpec

__all__ = ["gather_json", "is_local_request", "owned_items", "owned_rows", "route_by_key"]

log = structlog.get_logger(__name__)


def is_local_request(request: Request) -> bool:
    return request.query.get("scope") == "local"


def owned_items(
    app: AppT, spec: TableSpec, table: Mapping[Any, Any], source_topic: str, partitions: int
) -> list[tuple[str, Any]]:
    """The ``(key, row)`` pairs of ``table`` in the partitions of ``source_topic`` this worker owns
    (bookkeeping keys and empty rows left out)."""
    mine = engine.owned_partitions(app, source_topic)
    return [(str(k), v) for k, v in list(table.items()) if v is not None and spec.partition(str(k), partitions) in mine]


def owned_rows(app: AppT, spec: TableSpec, table: Mapping[Any, Any], source_topic: str, partitions: int) -> list[Any]:
    """The rows of ``owned_items``."""
    return [v for _, v in owned_items(app, spec, table, source_topic, partitions)]


async def route_by_key(view: View, request: Request, topic: TopicT, key: str) -> Response | None:
    """Forward the request to the worker owning ``key`` of ``topic``; None when that is this worker.

    While an owner that left is still assigned (until the group rebalances), the answer is a 503 with
    the reason, never a 500.
    """
    if is_local_request(request):
        return None
    try:
        response: Response = await view.app.router.route_topic_req(topic, key.encode(), view.web, request)
    except SameNode:
        return None
    except (KeyError, ServiceUnavailable, NotReady):  # no assignment or producer yet: answer from here
        return None
    except TypeError:  # the producer has no metadata for the topic yet (first seconds of a worker)
        log.info("no partition metadata yet: answering from this worker", topic=topic.get_topic_name())
        return None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # the owner left (a rebalance is coming)
        log.warning("the worker owning a key did not answer", topic=topic.get_topic_name(), error=repr(exc))
        return view.json({"error": f"the worker owning {key} is not answering; try again"}, status=503)
    return response


async def gather_json(view: View, request: Request, local: Iterable[Any]) -> tuple[list[Any], list[str]]:
    """This worker's rows plus every other worker's ``?scope=local`` rows; and the hosts that failed."""
    if is_local_request(request):
        return list(local), []
    hosts = engine.other_workers(view.app)
    if not hosts:
        return list(local), []
    query = {**request.query, "scope": "local"}
    timeout = aiohttp.ClientTimeout(total=5)

    async def fetch(session: aiohttp.ClientSession, host: str) -> list[Any]:
        async with session.get(f"{host}{request.url.path}", params=query) as resp:
            resp.raise_for_status()
            body = await resp.json()
            return list(body.get("items", []))

    rows = list(local)
    failed: list[str] = []
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results = await asyncio.gather(*(fetch(session, h) for h in hosts), return_exceptions=True)
    for host, result in zip(hosts, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("worker did not answer a gather", host=host, error=repr(result))
            failed.append(host)
        else:
            rows.extend(result)
    return rows, failed
