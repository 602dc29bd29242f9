"""The Grafana dashboard in ``deploy/`` as the tests read it: its panels, their queries, and a small
PromQL reader that says which series each query selects and which labels it uses.

The reader is a tokenizer and a walk over the tokens, not a full PromQL parser. It knows selectors
(``name{label op "value", ...}``, ``{__name__="name"}``), range and subquery brackets (skipped),
strings (skipped, so a name inside a matcher value or a ``label_replace`` argument is not a series),
Grafana variables (``$worker``, ``${__range}``), functions (an identifier before ``(``; an unknown one
is an error, so a misspelt ``rate`` fails loudly), aggregations with ``by``/``without`` before or after
their argument, and ``on``/``ignoring``/``group_left``/``group_right`` lists (applied, strictly, to every
selector of the innermost parentheses around them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "oddstream.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "oddstream.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"

# fmt: off
AGGREGATIONS = frozenset({
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "limitk", "limit_ratio",
})
FUNCTIONS = frozenset({  # Prometheus 3's functions
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "double_exponential_smoothing",
    "end", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
    "info", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt", "start", "stddev_over_time",
    "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
})
# fmt: on
_GROUPING = frozenset({"by", "without"})
_MATCHING = frozenset({"on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:ms|[smhdwy]))+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Selector:
    """One series selector of a query and what the query asks of its labels.

    ``matchers`` are ``(label, op, value)`` as written (the value unquoted); ``clauses`` are the
    ``by``/``without`` (and ``on``/``ignoring``/``group_*``) lists that apply to it, innermost first.
    """

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()
    clauses: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def labels(self) -> frozenset[str]:
        """Every label this selector's query names for it: matchers and clauses."""
        named = {label for label, _, _ in self.matchers}
        for _, labels in self.clauses:
            named |= labels
        return frozenset(named - {"__name__"})

    def output_labels(self, carried: frozenset[str]) -> frozenset[str]:
        """The labels left after its aggregations, given the labels the series carries."""
        out = carried
        for kind, labels in self.clauses:
            if kind == "by":
                out = out & labels
            elif kind == "without":
                out = out - labels
            elif kind == "aggregate":  # an aggregation with no grouping keeps no label
                out = frozenset()
        return out


def tokens(expr: str) -> list[Token]:
    """The tokens of ``expr`` without spaces and comments; a character PromQL does not know is an error."""
    out: list[Token] = []
    at = 0
    while at < len(expr):
        match = _TOKEN.match(expr, at)
        if match is None:
            raise ValueError(f"cannot read {expr[at : at + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            out.append(Token(kind, match.group()))
        at = match.end()
    return out


def _closing(toks: list[Token]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing one (unbalanced brackets are an error)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[int] = []
    out: dict[int, int] = {}
    for i, t in enumerate(toks):
        if t.kind != "op":
            continue
        if t.text in pairs:
            stack.append(i)
        elif t.text in pairs.values():
            if not stack or pairs[toks[stack[-1]].text] != t.text:
                raise ValueError(f"unbalanced {t.text!r}")
            out[stack.pop()] = i
    if stack:
        raise ValueError(f"unclosed {toks[stack[-1]].text!r}")
    return out


def _label_list(toks: list[Token], closing: dict[int, int], open_at: int) -> tuple[frozenset[str], int]:
    """The labels of the ``(a, b)`` list opening at ``open_at``, and the index after it."""
    if open_at >= len(toks) or toks[open_at].text != "(":
        raise ValueError(f"{toks[open_at - 1].text} without a label list")
    inside = [t for t in toks[open_at + 1 : closing[open_at]] if t.text != ","]
    if any(t.kind != "ident" for t in inside):
        raise ValueError(f"not a label list: {' '.join(t.text for t in inside)}")
    return frozenset(t.text for t in inside), closing[open_at] + 1


def _matchers(toks: list[Token], open_at: int, close_at: int) -> tuple[tuple[str, str, str], ...]:
    inside = toks[open_at + 1 : close_at]
    out = []
    while inside:
        if len(inside) < 3:
            raise ValueError(f"not a matcher: {' '.join(t.text for t in inside)}")
        label, op, value, *rest = inside
        if label.kind != "ident" or op.text not in _MATCH_OPS or value.kind not in ("string", "variable"):
            raise ValueError(f"not a matcher: {label.text} {op.text} {value.text}")
        out.append((label.text, op.text, value.text[1:-1] if value.kind == "string" else value.text))
        if rest and rest[0].text != ",":
            raise ValueError(f"expected ',' after a matcher, got {rest[0].text!r}")
        inside = rest[1:]
    return tuple(out)


def selectors(expr: str) -> list[Selector]:
    """The series selectors of one PromQL expression, in order, each with the label lists applying to it.

    >>> [s.metric for s in selectors('sum by (topic) (rate(oddstream_events_consumed_total[5m]))')]
    ['oddstream_events_consumed_total']
    """
    toks = tokens(expr)
    closing = _closing(toks)
    found: list[tuple[int, str, tuple[tuple[str, str, str], ...]]] = []
    spans: list[tuple[int, int, str, frozenset[str]]] = []  # (start, end, kind, labels) over token indexes
    enclosing: list[int] = []  # open parentheses around the current token
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        if t.text == "(" and t.kind == "op":
            enclosing.append(i)
        elif t.text == ")" and t.kind == "op":
            enclosing.pop()
        elif t.text == "[" and t.kind == "op":  # a range or subquery: durations and variables only
            i = closing[i] + 1
            continue
        elif t.text == "{" and t.kind == "op":  # a selector without a name before its braces
            matchers = _matchers(toks, i, closing[i])
            names = [(op, value) for label, op, value in matchers if label == "__name__"]
            if len(names) != 1 or names[0][0] != "=":
                raise ValueError(f'a selector without a name needs one __name__="..." matcher: {expr!r}')
            found.append((i, names[0][1], matchers))
            i = closing[i] + 1
            continue
        elif t.kind == "ident":
            if t.text in AGGREGATIONS and nxt in ("(", *_GROUPING):
                spans.append(_aggregation(toks, closing, i))
            elif t.text in _GROUPING:  # after its aggregation's argument: read with the aggregation
                i = _label_list(toks, closing, i + 1)[1]
                continue
            elif t.text in _MATCHING:
                if nxt == "(":  # group_left and group_right may go without a list
                    start = enclosing[-1] if enclosing else -1
                    end = closing[start] if enclosing else len(toks)
                    labels, i = _label_list(toks, closing, i + 1)
                    spans.append((start, end, t.text, labels))
                    continue
            elif t.text in _KEYWORDS:
                pass
            elif nxt == "(":
                if t.text not in FUNCTIONS:
                    raise ValueError(f"unknown function {t.text!r} in {expr!r}")
            else:
                matchers = _matchers(toks, i + 1, closing[i + 1]) if nxt == "{" else ()
                found.append((i, t.text, matchers))
                if nxt == "{":
                    i = closing[i + 1] + 1
                    continue
        i += 1
    out = []
    for at, metric, matchers in found:
        around = sorted((s for s in spans if s[0] < at < s[1]), key=lambda s: s[1] - s[0])  # innermost first
        out.append(Selector(metric, matchers, tuple((kind, labels) for _, _, kind, labels in around)))
    return out


def _aggregation(toks: list[Token], closing: dict[int, int], at: int) -> tuple[int, int, str, frozenset[str]]:
    """The token span of an aggregation's argument and its grouping: ``sum by (l) (x)`` or ``sum (x) by (l)``."""
    if toks[at + 1].text in _GROUPING:
        kind = toks[at + 1].text
        labels, arg = _label_list(toks, closing, at + 2)
        if arg >= len(toks) or toks[arg].text != "(":
            raise ValueError(f"{toks[at].text} {kind} (...) without an argument")
        return arg, closing[arg], kind, labels
    arg = at + 1
    end = closing[arg]
    if end + 1 < len(toks) and toks[end + 1].text in _GROUPING:
        return arg, end, toks[end + 1].text, _label_list(toks, closing, end + 2)[0]
    return arg, end, "aggregate", frozenset()


def legend_labels(legend: str) -> frozenset[str]:
    """The labels a Grafana legend format names (``{{topic}} / {{partition}}``)."""
    return frozenset(re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", legend or ""))


@dataclass(frozen=True)
class Query:
    """One query of the dashboard: where it is (for messages), its PromQL, its legend format, and the
    label a ``label_values(selector, label)`` variable reads (``None`` for a panel's target)."""

    where: str
    expr: str
    legend: str = ""
    reads_label: str | None = None

    def selectors(self) -> list[Selector]:
        return selectors(self.expr)


def variable_query(where: str, query: str) -> Query:
    """A Grafana Prometheus variable query: ``label_values(selector, label)`` or plain PromQL."""
    match = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*([A-Za-z_]\w*)\s*\)\s*", query, re.DOTALL)
    if match is None:
        return Query(where, query)
    return Query(where, match.group(1) or "", reads_label=match.group(2))


# -- the dashboard ---------------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, the panels of collapsed rows included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def variables(board: dict[str, Any]) -> list[dict[str, Any]]:
    listed = board.get("templating", {}).get("list", [])
    assert isinstance(listed, list)
    return listed


def queries(board: dict[str, Any]) -> Iterator[Query]:
    """Every target of every panel, then every query variable."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            where = f"panel {panel['title']!r} target {target['refId']}"
            yield Query(where, target["expr"], target.get("legendFormat", ""))
    for variable in variables(board):
        if variable.get("type") == "query":
            query = variable["query"]
            yield variable_query(f"variable {variable['name']!r}", query["query"] if isinstance(query, dict) else query)
