"""``GET /metrics``: what one worker does, in Prometheus text format (``prometheus_client``).

Two kinds of metric:

- **instrumented** (counters and histograms updated where the work happens, ``streams.metrics``):
  scrape requests per bookmaker and projection batches;
- **read at scrape time** (``WorkerCollector``): records consumed and produced per topic (Faust's
  monitor), consumer lag per assigned partition, table keys, dead letters and runs by status.

Every sample carries a ``worker`` label (the worker's canonical URL), so the series of several
workers never collide even when Prometheus relabels ``instance``; scrape every worker (each serves
its own numbers) and sum over ``worker``. Tables and counts read at scrape time cover only the
partitions the worker owns, so sums over workers count each key once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from agents import deadletters
from agents.routing import owned_rows
from streams import engine
from streams.metrics import REGISTRY
from streams.topics import TableSpec

__all__ = ["Served", "Table", "WorkerCollector", "metrics", "served"]

RUN_STATUSES = ("requested", "running", "completed", "failed", "stale")


@dataclass(frozen=True, slots=True)
class Table:
    """A table of this worker as ``/metrics`` counts it: its spec, the table, its source topic's name."""

    spec: TableSpec
    table: Any
    source_topic: str


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


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["worker", *labels])


class WorkerCollector(Collector):
    """The numbers read from the running worker each time ``/metrics`` is scraped."""

    def __init__(
        self,
        app: faust.App,
        tables: Sequence[Table],
        runs: Table,
        letters: deadletters.Letters,
        partitions: int,
    ) -> None:
        self.app = app
        self.tables = tables
        self.runs = runs
        self.letters = letters
        self.partitions = partitions
        self.worker = engine.worker_url(app)

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
        for topic, partition, lag in engine.consumer_lag(self.app):
            family.add_metric([self.worker, topic, str(partition)], lag)
        return family

    def _tables(self) -> Metric:
        family = _gauge("oddstream_table_keys", "Keys of a Faust table in the partitions this worker owns", ["table"])
        for t in sorted(self.tables, key=lambda t: t.spec.name):
            n = len(owned_rows(self.app, t.spec, t.table, t.source_topic, self.partitions))
            family.add_metric([self.worker, t.spec.name], n)
        return family

    def _dead_letters(self) -> Metric:
        family = _gauge(
            "oddstream_dead_letters",
            "Dead letters indexed in the partitions of odds.dead-letters this worker owns, by source topic "
            "(sum over workers: every letter since the topic began)",
            ["source_topic"],
        )
        for topic, n in sorted(deadletters.counts(self.letters).items()):
            family.add_metric([self.worker, topic], n)
        return family

    def _runs(self) -> Metric:
        family = _gauge("oddstream_runs", "Scrape runs by status, in the partitions this worker owns", ["status"])
        # every status present, so a rate or absence alert has a series
        statuses: Counter[str] = Counter({status: 0 for status in RUN_STATUSES})
        for run in owned_rows(self.app, self.runs.spec, self.runs.table, self.runs.source_topic, self.partitions):
            statuses[str(run.get("status", "unknown"))] += 1
        for status, n in sorted(statuses.items()):
            family.add_metric([self.worker, status], n)
        return family


Served = CollectorRegistry


def served(collector: WorkerCollector) -> Served:
    """The registry ``GET /metrics`` renders: the instrumented metrics and the worker's, labelled."""
    registry = CollectorRegistry()
    registry.register(_Labelled(REGISTRY, {"worker": collector.worker}))
    registry.register(collector)
    return registry


async def metrics(view: View, request: Request, registry: Served) -> Response:
    return view.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
