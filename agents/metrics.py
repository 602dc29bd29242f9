"""``GET /metrics``: what one worker does, in Prometheus text format (``prometheus_client``).

Two kinds of metric:

- **instrumented** (counters and histograms updated where the work happens, in ``REGISTRY``):
  scrape requests per bookmaker (``observe_request``, called by the bookmaker HTTP clients) and
  projection batches (``observe_projection_batch``, called by the projection agents);
- **read at scrape time** (``WorkerCollector``): records consumed and produced per topic (Faust's
  monitor), consumer lag per assigned partition, table keys, dead letters and runs by status.

Every sample carries a ``worker`` label (the worker's canonical URL), so the series of several
workers never collide even when Prometheus relabels ``instance``; scrape every worker (each serves
its own numbers) and sum over ``worker``. Tables and counts read at scrape time cover only the
partitions the worker owns, so sums over workers count each key once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    import faust

    from streams.app import Runtime

__all__ = [
    "PROJECTION_BATCH_RECORDS",
    "PROJECTION_BATCH_SECONDS",
    "REGISTRY",
    "SCRAPE_REQUESTS",
    "SCRAPE_REQUEST_SECONDS",
    "WorkerCollector",
    "error_kind",
    "observe_projection_batch",
    "observe_request",
    "register",
    "render",
]

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""The instrumented metrics of this process (one worker per process)."""

SCRAPE_REQUESTS: Final = PromCounter(
    "oddstream_scrape_requests",
    "HTTP requests to a bookmaker's API, by outcome (ok, or the kind of error; retried attempts count each)",
    ["bookmaker", "endpoint", "outcome"],
    registry=REGISTRY,
)
SCRAPE_REQUEST_SECONDS: Final = Histogram(
    "oddstream_scrape_request_seconds",
    "Duration of one HTTP request to a bookmaker's API, errors included",
    ["bookmaker", "endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
PROJECTION_BATCH_RECORDS: Final = Histogram(
    "oddstream_projection_batch_records",
    "Records per projection batch written to PostgreSQL",
    ["projection"],
    buckets=(1, 10, 50, 100, 500, 1_000, 2_500, 5_000, 10_000),
    registry=REGISTRY,
)
PROJECTION_BATCH_SECONDS: Final = Histogram(
    "oddstream_projection_batch_seconds",
    "Time to decode and commit one projection batch (retries included)",
    ["projection"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
PROJECTION_EVENTS: Final = PromCounter(
    "oddstream_projection_events_applied",
    "Events a projection applied to PostgreSQL (already-applied redeliveries excluded)",
    ["projection"],
    registry=REGISTRY,
)


def error_kind(exc: BaseException) -> str:
    """A bounded label for a failed request: the cause without its details (``http 503``, ``timeout``)."""
    cause = str(getattr(exc, "cause", "") or type(exc).__name__)
    return cause.split(":", 1)[0].split("(", 1)[0].strip() or type(exc).__name__


@contextmanager
def observe_request(bookmaker: str, endpoint: str) -> Iterator[None]:
    """Count and time one HTTP request of a bookmaker client (wrap the single attempt)."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = error_kind(exc)
        raise
    finally:
        SCRAPE_REQUESTS.labels(bookmaker, endpoint, outcome).inc()
        SCRAPE_REQUEST_SECONDS.labels(bookmaker, endpoint).observe(time.perf_counter() - started)


def observe_projection_batch(projection: str, records: int, applied: int, seconds: float) -> None:
    """Record one committed projection batch."""
    PROJECTION_BATCH_RECORDS.labels(projection).observe(records)
    PROJECTION_BATCH_SECONDS.labels(projection).observe(seconds)
    PROJECTION_EVENTS.labels(projection).inc(applied)


class _Labelled(Collector):
    """Another registry's metrics with extra labels on every sample."""

    def __init__(self, source: CollectorRegistry, labels: dict[str, str]) -> None:
        self._source = source
        self._labels = labels

    def collect(self) -> Iterable[Metric]:
        for family in self._source.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            out.samples = [s._replace(labels={**self._labels, **s.labels}) for s in family.samples]
            yield out


def _event_of(key: str) -> str:
    """``"<sportradar_id>:<bookmaker>"`` -> the sportradar id the table is partitioned by."""
    return key.split(":", 1)[0]


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["worker", *labels])


class WorkerCollector(Collector):
    """The numbers read from the running worker each time ``/metrics`` is scraped."""

    def __init__(self, app: faust.App, rt: Runtime, worker: str) -> None:
        self.app = app
        self.rt = rt
        self.worker = worker

    def collect(self) -> Iterable[Metric]:
        yield from self._traffic()
        yield self._lag()
        yield self._tables()
        yield self._dead_letters()
        yield self._runs()

    def _traffic(self) -> Iterator[Metric]:
        # Faust's monitor counts every record fetched and every record sent (changelogs included)
        monitor = self.app.monitor
        for name, doc, counts in (
            ("oddstream_events_consumed", "Records this worker consumed, by topic", monitor.messages_received_by_topic),
            ("oddstream_events_produced", "Records this worker produced, by topic", monitor.messages_sent_by_topic),
        ):
            family = Metric(name, doc, "counter")
            for topic, n in sorted((counts or {}).items()):
                family.add_sample(f"{name}_total", {"worker": self.worker, "topic": str(topic)}, float(n))
            yield family

    def _lag(self) -> Metric:
        family = _gauge(
            "oddstream_consumer_lag",
            "Records behind the partition's high watermark (from the fetch responses), per assigned partition",
            ["topic", "partition"],
        )
        consumer = self.app.consumer
        try:
            assigned = sorted(consumer.assignment())
        except Exception:  # not started or rebalancing: nothing assigned to report
            return family
        read = getattr(consumer, "_read_offset", {})
        committed = getattr(consumer, "_committed_offset", {})
        for tp in assigned:
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            position = read.get(tp)
            position = committed.get(tp) if position is None else position + 1
            lag = max(int(highwater) - int(position or 0), 0)
            family.add_metric([self.worker, tp.topic, str(tp.partition)], lag)
        return family

    def _tables(self) -> Metric:
        from agents.board_state import is_mark
        from agents.routing import owned_partitions, partition_of
        from streams import topics

        family = _gauge("oddstream_table_keys", "Keys of a Faust table in the partitions this worker owns", ["table"])
        partitions = self.rt.settings.topic_partitions
        # each table's key -> the partition of the source topic its agent reads
        key_topic: dict[str, tuple[topics.TopicSpec, Callable[[str], str]]] = {
            topics.TABLE_BOARDS: (topics.OBSERVED, _event_of),
            topics.TABLE_RUNS: (topics.RUNS, str),
        }
        for name, table in sorted(self.rt.tables.items()):
            if name == topics.TABLE_DEAD_LETTERS:
                mine = owned_partitions(self.app, self.rt.settings.topic(topics.DEAD_LETTERS.name))
                n = sum(str(k).split(":", 1)[0] in {str(p) for p in mine} for k in list(table.keys()))
            elif name in key_topic:
                spec, key_of = key_topic[name]
                mine = owned_partitions(self.app, self.rt.settings.topic(spec.name))
                keys = [str(k) for k in list(table.keys()) if not is_mark(k)]
                n = sum(partition_of(key_of(k), partitions) in mine for k in keys)
            else:
                n = len(table)
            family.add_metric([self.worker, name], n)
        return family

    def _dead_letters(self) -> Metric:
        from agents import deadletters

        family = _gauge(
            "oddstream_dead_letters",
            "Dead letters indexed in the partitions of odds.dead-letters this worker owns, by source topic "
            "(sum over workers: every letter since the topic began)",
            ["source_topic"],
        )
        for topic, n in sorted(deadletters.counts(self.rt).items()):
            family.add_metric([self.worker, topic], n)
        return family

    def _runs(self) -> Metric:
        from agents.routing import owned, owned_partitions
        from streams import topics

        family = _gauge("oddstream_runs", "Scrape runs by status, in the partitions this worker owns", ["status"])
        table = self.rt.tables.get(topics.TABLE_RUNS)
        statuses: Counter[str] = Counter()
        for status in ("requested", "running", "completed", "failed", "stale"):
            statuses[status] = 0  # every status present, so a rate or absence alert has a series
        if table is not None:
            mine = owned_partitions(self.app, self.rt.settings.topic(topics.RUNS.name))
            for run in owned(list(table.items()), str, mine, self.rt.settings.topic_partitions):
                statuses[str(run.get("status", "unknown"))] += 1
        for status, n in sorted(statuses.items()):
            family.add_metric([self.worker, status], n)
        return family


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def register(app: faust.App, rt: Runtime) -> None:
    """Serve ``GET /metrics`` on this worker."""
    from faust.web import Request, Response, View

    worker = str(app.conf.canonical_url).rstrip("/")
    served = CollectorRegistry()
    served.register(_Labelled(REGISTRY, {"worker": worker}))
    served.register(WorkerCollector(app, rt, worker))

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            body = render(served)
            return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
