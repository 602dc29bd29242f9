"""Any worker answers any request: forward key lookups to the owner, gather lists from every worker.

Tables are partitioned like their source topics (keys hashed with Kafka's murmur2, as every
producer does), so the owner of a key is the worker assigned that key's partition of the source
topic. Lists are gathered: each worker answers ``?scope=local`` with the rows of the partitions it
actively owns (the memory store keeps revoked partitions' rows, so ownership is checked here), and
the worker that took the request merges them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import aiohttp
import faust
import structlog
from aiokafka.partitioner import murmur2
from faust.exceptions import SameNode
from faust.types import AppT, TopicT
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable

__all__ = ["gather_json", "is_local_request", "owned", "owned_partitions", "partition_of", "route_by_key"]

log = structlog.get_logger(__name__)


@lru_cache(maxsize=1 << 17)
def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as the Java client)."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def owned_partitions(app: faust.App, topic_name: str) -> set[int]:
    """Partitions of ``topic_name`` this worker currently owns as active."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}


def is_local_request(request: Request) -> bool:
    return request.query.get("scope") == "local"


async def route_by_key(view: View, request: Request, topic: TopicT, key: str) -> Response | None:
    """Forward the request to the worker owning ``key`` of ``topic``; None when that is this worker."""
    if is_local_request(request):
        return None
    try:
        response: Response = await view.app.router.route_topic_req(topic, key.encode(), view.web, request)
    except SameNode:
        return None
    except (KeyError, ServiceUnavailable):  # no assignment yet (starting, rebalancing): answer from here
        return None
    except TypeError:  # the producer has no metadata for the topic yet (first seconds of a worker)
        log.info("no partition metadata yet: answering from this worker", topic=topic.get_topic_name())
        return None
    return response


def _other_hosts(app: AppT) -> list[str]:
    me = str(app.conf.canonical_url).rstrip("/")
    hosts = {str(h).rstrip("/") for h in app.router.tables_metadata()}
    return sorted(h for h in hosts if h and h != me)


async def gather_json(view: View, request: Request, local: list[Any]) -> tuple[list[Any], list[str]]:
    """This worker's rows plus every other worker's ``?scope=local`` rows; and the hosts that failed."""
    if is_local_request(request):
        return local, []
    hosts = _other_hosts(view.app)
    if not hosts:
        return local, []
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


def owned(items: Iterable[tuple[str, Any]], key_of: Any, owned_parts: set[int], partitions: int) -> list[Any]:
    """Values whose key hashes to a partition this worker owns."""
    return [v for k, v in items if v is not None and partition_of(key_of(k), partitions) in owned_parts]
