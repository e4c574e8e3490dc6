"""Metric names in a PromQL expression, for checking dashboards and alert rules against the
catalogue of what Naestro exports (naestro/telemetry/catalogue.py).

Not a parser: PromQL's metric names are the identifiers left once strings, label matchers,
ranges, Grafana variables, grouping clauses, function calls, keywords and numbers are gone.
"""

from __future__ import annotations

import re

from naestro.telemetry import catalogue

SDK_SERIES = catalogue.SDK_SERIES

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"and", "or", "unless", "atan2", "inf", "nan", "start", "end"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names that `expr` selects."""
    text = _STRING.sub(" ", expr)
    text = _GRAFANA_VAR.sub("1", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.groups()
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """For each `name{...}` selector in `expr`, the label names its matchers use."""
    text = _GRAFANA_VAR.sub("1", expr)
    found: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(text):
        labels = set(_MATCHER_LABEL.findall(_STRING.sub('""', body)))
        found.setdefault(name, set()).update(labels)
    return found


def exported() -> set[str]:
    """Every series name a query may use: Naestro's catalogue and the SDK series above."""
    return catalogue.series_names() | SDK_SERIES


def labels_of(series: str) -> set[str] | None:
    """The labels of one of Naestro's series (histogram parts add `le` to _bucket), or None
    for a series that is not Naestro's. Scrape labels (job, instance) are always allowed."""
    for metric in catalogue.ALL:
        parts: dict[str, tuple[str, ...]] = {metric.name: ()}
        if metric.kind == "histogram":
            parts = {f"{metric.name}_{part}": () for part in ("bucket", "sum", "count")}
            parts[f"{metric.name}_bucket"] = ("le",)
        if series in parts:
            return {*metric.labels, *parts[series], "job", "instance"}
    return None


def problems(expr: str) -> list[str]:
    """What in `expr` the catalogue does not back: unknown series, unknown matcher labels."""
    found = [f"{name} is not exported" for name in sorted(metric_names(expr) - exported())]
    for name, used in sorted(matcher_labels(expr).items()):
        known = labels_of(name)
        if known is not None and used - known:
            found.append(f"{name} has no label(s) {sorted(used - known)}")
    return found
