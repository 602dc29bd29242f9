"""Every query of the Grafana dashboard names a series the worker exports, by labels that series carries.

The series come from the worker's own ``GET /metrics``: the app as the composition root builds it (the
harness), with what a running worker would have at its edges: partitions assigned with records behind
their high watermark, a record consumed and one produced, a dead letter indexed by its agent, one
bookmaker request and one projection batch observed. Every family then has a sample to read its labels
from, so renaming a metric or a label in the code fails here. Prometheus adds ``job`` and ``instance``
to every series it scrapes, and makes ``up``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.types import TP
from prometheus_client.parser import text_string_to_metric_families

from agents.deadletters import meta_key
from streams import topics
from streams.events import encode
from streams.metrics import observe_projection_batch, observe_request
from streams.outbox import letter_of
from streams.ranges import RawRecord
from tests.agents.conftest import Harness, until
from tests.grafana import Query, dashboard, legend_labels, queries

TARGET_LABELS = frozenset({"job", "instance"})
"""What Prometheus attaches to every sample it scrapes."""
PROMETHEUS_SERIES = {"up": TARGET_LABELS}
"""Series Prometheus makes for each target itself."""

Families = dict[str, dict[str, frozenset[str]]]
"""family -> sample name -> the labels of its samples."""
Series = dict[str, frozenset[str]]
"""series name -> the labels it carries in Prometheus."""


async def exposition(h: Harness, monkeypatch: pytest.MonkeyPatch) -> str:
    """``GET /metrics`` of a worker that has done a little of everything."""
    app = h.worker.app
    observed = h.settings.topic(topics.OBSERVED.name)
    letters = h.settings.topic(topics.DEAD_LETTERS.name)
    assigned = {TP(observed, 0), TP(letters, 0)}
    # the group's assignment and the fetch responses' high watermarks: the broker's side of the worker
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: assigned)
    monkeypatch.setattr(app.consumer, "assignment", lambda: assigned)
    monkeypatch.setattr(app.consumer, "highwater", lambda tp: 3)
    # what the consumer and the producer tell Faust's monitor of each record
    app.monitor.on_message_in(TP(observed, 0), 0, SimpleNamespace())
    app.monitor.on_send_initiated(None, h.settings.topic(topics.CHANGES.name), None, 0, 0)
    # what a bookmaker client and a projection agent report
    with observe_request("betpawa", "event"):
        pass
    observe_projection_batch("odds-changes", 10, 10, 0.02)
    refused = RawRecord(observed, 0, 0, b"61300947", b"\x00junk")
    letter = h.log.append(letters, "61300947", encode(letter_of(refused, "not JSON")), partition=0)
    async with h.running("dead-letters") as agent:
        await h.deliver(agent, [letter])
        await until(lambda: h.worker.tables.dead_letters.data.get(meta_key(0)))
    response = await app.web.views["/metrics"].get(None)
    return bytes(response.body).decode()


@pytest.fixture
async def families(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Families:
    out: Families = {}
    for family in text_string_to_metric_families(await exposition(harness, monkeypatch)):
        samples = out.setdefault(family.name, {})  # a family without samples is listed too
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, frozenset()) | set(sample.labels)
    return out


@pytest.fixture
def series(families: Families) -> Series:
    """Every series a Prometheus scraping the worker holds, with the labels it carries."""
    out = {name: labels | TARGET_LABELS for samples in families.values() for name, labels in samples.items()}
    return {**out, **PROMETHEUS_SERIES}


def problems(query: Query, series: Series) -> list[str]:
    """What is wrong with one query against the series: a name not exported, a label not carried, a
    legend naming a label the result no longer has."""
    wrong = []
    outputs = []
    for s in query.selectors():
        if s.metric not in series:
            wrong.append(f"{query.where}: {s.metric} is not a series the worker exports")
            continue
        carried = series[s.metric]
        if unknown := s.labels - carried:
            wrong.append(f"{query.where}: {s.metric} has no label {sorted(unknown)} (it has {sorted(carried)})")
        if query.reads_label and query.reads_label not in carried:
            wrong.append(f"{query.where}: {s.metric} has no label {query.reads_label!r}")
        outputs.append(s.output_labels(carried))
    if outputs and (missing := legend_labels(query.legend) - frozenset.intersection(*outputs)):
        wrong.append(f"{query.where}: the legend names {sorted(missing)}, which the result does not carry")
    return wrong


def test_every_family_has_a_sample_to_read_its_labels_from(families: Families) -> None:
    # a new family without samples here: give the worker above what makes it count
    assert {name for name, samples in families.items() if not samples} == set()
    assert all(name.startswith("oddstream_") for name in families)


def test_every_query_names_an_exported_series_by_labels_it_carries(series: Series) -> None:
    found = list(queries(dashboard()))
    assert len(found) > 10
    wrong = [p for query in found for p in problems(query, series)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("query", "caught"),
    [
        (Query("misspelt", "sum(oddstream_consumer_lags)"), "oddstream_consumer_lags is not a series"),
        (Query("no _total", "rate(oddstream_scrape_requests[5m])"), "oddstream_scrape_requests is not a series"),
        (Query("matcher", 'oddstream_runs{state="failed"}'), "no label ['state']"),
        (Query("by", "sum by (outcome) (rate(oddstream_scrape_request_seconds_count[5m]))"), "no label ['outcome']"),
        (Query("legend", "sum by (topic) (oddstream_consumer_lag)", "{{partition}}"), "the legend names"),
        (Query("variable", "oddstream_runs", reads_label="bookmaker"), "no label 'bookmaker'"),
    ],
)
def test_the_check_catches_a_wrong_name_or_label(query: Query, caught: str, series: Series) -> None:
    (problem,) = problems(query, series)
    assert caught in problem
