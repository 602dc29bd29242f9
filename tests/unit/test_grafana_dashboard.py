"""The Grafana dashboard (deploy/grafana/dashboards/oddstream.json) is well formed and agrees with its
provisioning; the PromQL reader the series check relies on (tests/grafana.py) reads what it should.

Whether each query names a series the worker exports, by labels it carries, is checked against the
worker's own exposition in tests/agents/test_grafana_series.py.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any

import pytest
import yaml

from tests.grafana import (
    DASHBOARD,
    DATASOURCES,
    PROMETHEUS_CONFIG,
    Query,
    Selector,
    dashboard,
    legend_labels,
    panels,
    queries,
    selectors,
    variable_query,
    variables,
)

BY = "by"
GRAFANA_VARIABLES = {"__rate_interval", "__range", "__interval"}


def by(*labels: str) -> tuple[str, frozenset[str]]:
    return (BY, frozenset(labels))


# -- the reader ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "found"),
    [
        ("oddstream_runs", [Selector("oddstream_runs")]),
        (
            'rate(oddstream_events_consumed_total{worker=~"$worker"}[$__rate_interval])',
            [Selector("oddstream_events_consumed_total", (("worker", "=~", "$worker"),))],
        ),
        (
            "histogram_quantile(0.99, sum by (le, projection) (rate(oddstream_projection_batch_seconds_bucket[5m])))",
            [Selector("oddstream_projection_batch_seconds_bucket", (), (by("le", "projection"),))],
        ),
        # by after the argument, a ratio of two aggregations: each selector gets its own clause
        (
            'sum(rate(a_total{outcome!="ok"}[5m])) by (bookmaker) / sum without (worker) (rate(a_total[1h30m]))',
            [
                Selector("a_total", (("outcome", "!=", "ok"),), (by("bookmaker"),)),
                Selector("a_total", (), (("without", frozenset({"worker"})),)),
            ],
        ),
        # nested aggregations, innermost first; an aggregation without grouping keeps no label
        (
            "sum(max by (topic, partition) (lag))",
            [Selector("lag", (), (by("topic", "partition"), ("aggregate", frozenset())))],
        ),
        # a name inside a string, a range, an offset, a subquery, a comment: not series
        (
            'x{a="sum(rate(y[5m]))"} offset 1h + rate(z[5m:30s]) # w{b="c"}',
            [Selector("x", (("a", "=", "sum(rate(y[5m]))"),)), Selector("z")],
        ),
        (
            '{__name__="up", job="oddstream"} == 1',
            [Selector("up", (("__name__", "=", "up"), ("job", "=", "oddstream")))],
        ),
        # keywords, bool, on(...) over both sides, @ start(), time(), numbers
        (
            "a > bool 0.5e3 and on (worker) b @ start() - time()",
            [Selector("a", (), (("on", frozenset({"worker"})),)), Selector("b", (), (("on", frozenset({"worker"})),))],
        ),
        ("vector(1) or sum(count_over_time(c[$__range]))", [Selector("c", (), (("aggregate", frozenset()),))]),
    ],
)
def test_the_reader_finds_each_selector_with_its_labels(expr: str, found: list[Selector]) -> None:
    assert selectors(expr) == found


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("rat(x[5m])", "unknown function 'rat'"),
        ("sum(x", "unclosed"),
        ("sum(x))", "unbalanced"),
        ('x{a~"b"}', "cannot read"),
        ('x{a="b" c="d"}', "expected ','"),
        ('x{a="b", c}', "not a matcher: c"),
        ('{job="x"}', "__name__"),
        ('{__name__=~"odd.*"}', "__name__"),
        ("sum by worker (x)", "without a label list"),
        ('sum by ("worker") (x)', "not a label list"),
    ],
)
def test_the_reader_refuses_what_it_cannot_read(expr: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        selectors(expr)


def test_labels_named_and_left_after_aggregation() -> None:
    (s,) = selectors('sum by (le, projection) (rate(h_bucket{worker=~"$w", __name__!=""}[5m]))')
    assert s.labels == {"le", "projection", "worker"}
    carried = frozenset({"le", "projection", "worker", "job", "instance"})
    assert s.output_labels(carried) == {"le", "projection"}
    (t,) = selectors("sum(max by (topic) (lag))")
    assert t.output_labels(frozenset({"topic", "partition"})) == frozenset()
    (u,) = selectors("count without (worker) (runs)")
    assert u.output_labels(frozenset({"worker", "status"})) == {"status"}


def test_legends_and_variable_queries() -> None:
    assert legend_labels("{{topic}} [{{ partition }}]") == {"topic", "partition"}
    assert legend_labels("p99") == frozenset()
    assert variable_query("v", 'label_values(oddstream_runs{job="oddstream"}, worker)') == Query(
        "v", 'oddstream_runs{job="oddstream"}', reads_label="worker"
    )
    assert variable_query("v", "up == 0") == Query("v", "up == 0")


# -- the dashboard ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return dashboard()


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    (only,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert isinstance(only, dict)
    return only


def test_the_dashboard_is_a_provisionable_dashboard(board: dict[str, Any]) -> None:
    assert board["uid"] == "oddstream" and board["title"]
    assert board["schemaVersion"] >= 39
    # provisioned as it is: no export-time inputs (${DS_...}) to fill in
    assert "__inputs" not in board and "${DS_" not in DASHBOARD.read_text()
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))


def test_every_panel_has_queries(board: dict[str, Any]) -> None:
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert refs, f"{panel['title']!r} has no target"
        assert len(refs) == len(set(refs)), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_every_datasource_is_the_provisioned_prometheus(board: dict[str, Any], datasource: dict[str, Any]) -> None:
    assert datasource["type"] == "prometheus" and datasource["uid"]
    wanted = {"type": "prometheus", "uid": datasource["uid"]}
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == wanted, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == wanted, (panel["title"], target["refId"])
    for variable in variables(board):
        if variable["type"] == "query":
            assert variable["datasource"] == wanted, variable["name"]


def test_the_datasource_steps_like_the_scrapes(datasource: dict[str, Any]) -> None:
    # $__rate_interval is at least four times the datasource's interval: it must be the scrape interval
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert datasource["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def test_every_query_reads_and_selects_the_scrape_job(board: dict[str, Any]) -> None:
    (job,) = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    defined = {v["name"] for v in variables(board)} | GRAFANA_VARIABLES
    for query in queries(board):
        found = query.selectors()  # reads, or raises with the reason
        assert found, f"{query.where} selects no series: {query.expr}"
        for s in found:
            matchers = {(label, op): value for label, op, value in s.matchers}
            assert matchers.get(("job", "=")) == job["job_name"], f"{query.where}: {s.metric} without the job"
            if s.metric.startswith("oddstream_") and not query.where.startswith("variable"):
                assert matchers.get(("worker", "=~")) == "$worker", f"{query.where}: {s.metric} ignores $worker"
        used = set(re.findall(r"\$\{?(\w+)", query.expr))
        assert used <= defined, f"{query.where} uses undefined variables {used - defined}"


def test_panels_sit_side_by_side_on_the_grid(board: dict[str, Any]) -> None:
    boxes = []
    for panel in panels(board):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for (a, ax0, ay0, ax1, ay1), (b, bx0, by0, bx1, by1) in combinations(boxes, 2):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a!r} overlaps {b!r}"
