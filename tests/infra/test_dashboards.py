"""Grafana dashboards (infra/grafana/): each loads and fits the schema below, every query
names series Naestro exports (naestro/telemetry/catalogue.py, plus the Temporal SDK's), and
the provisioning files agree with the dashboards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tests.infra import promql

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "infra" / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED = {"overview", "models", "sandbox", "memory", "api", "gpus"}
_VARIABLE = re.compile(r"\$\{(\w+)[^}]*\}|\$(\w+)|\[\[(\w+)\]\]")


class Schema(BaseModel):
    # Grafana's JSON has many more fields; these are the ones the dashboards rely on.
    model_config = ConfigDict(extra="allow", frozen=True)


class Datasource(Schema):
    type: Literal["prometheus"]
    uid: str = Field(min_length=1)


class Target(Schema):
    refId: str = Field(pattern=r"^[A-Z]$")
    expr: str = Field(min_length=1)
    datasource: Datasource
    legendFormat: str | None = None
    format: Literal["time_series", "table", "heatmap"] | None = None


class GridPos(Schema):
    x: int = Field(ge=0, le=23)
    y: int = Field(ge=0)
    w: int = Field(ge=1, le=24)
    h: int = Field(ge=1)

    @model_validator(mode="after")
    def fits(self) -> GridPos:
        assert self.x + self.w <= 24, "a panel overflows the 24-column grid"
        return self


class Panel(Schema):
    id: int
    type: Literal["row", "timeseries", "stat", "gauge", "heatmap", "state-timeline", "table"]
    title: str = Field(min_length=1)
    gridPos: GridPos
    datasource: Datasource | None = None
    targets: list[Target] = []

    @model_validator(mode="after")
    def queried(self) -> Panel:
        assert self.type == "row" or self.targets, f"panel {self.title!r} has no query"
        return self


class VariableQuery(Schema):
    query: str = Field(min_length=1)


class Variable(Schema):
    name: str = Field(pattern=r"^\w+$")
    type: Literal["query", "custom", "interval", "constant"]
    datasource: Datasource | None = None
    query: str | VariableQuery


class Templating(Schema):
    variables: list[Variable] = Field(alias="list")


class Dashboard(Schema):
    uid: str = Field(pattern=r"^[\w-]{1,40}$")
    title: str = Field(min_length=1)
    schemaVersion: int = Field(ge=36)
    id: None = None  # provisioned dashboards get their id from Grafana
    panels: list[Panel] = Field(min_length=1)
    templating: Templating
    tags: list[str] = []


def load(path: Path) -> Dashboard:
    return Dashboard.model_validate(json.loads(path.read_text()))


def queries(board: Dashboard) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable."""
    found = [(f"panel {p.title!r}", t.expr) for p in board.panels for t in p.targets]
    for var in board.templating.variables:
        if var.type == "query":
            text = var.query if isinstance(var.query, str) else var.query.query
            found.append((f"variable {var.name}", _label_values(text)))
    return found


def _label_values(text: str) -> str:
    """The series selector inside Grafana's label_values(selector, label)."""
    match = re.fullmatch(r"\s*label_values\((.+),\s*\w+\s*\)\s*", text)
    assert match, f"unsupported variable query {text!r}"
    return match.group(1)


def provisioned_datasource() -> dict[str, object]:
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    (source,) = config["datasources"]
    return dict(source)


def test_every_dashboard_is_there() -> None:
    assert {path.stem for path in BOARDS} == EXPECTED


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_dashboard_fits_the_schema(path: Path) -> None:
    board = load(path)
    assert board.uid == f"naestro-{path.stem}"
    ids = [panel.id for panel in board.panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_panels_do_not_overlap(path: Path) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in load(path).panels:
        pos = panel.gridPos
        columns, rows = range(pos.x, pos.x + pos.w), range(pos.y, pos.y + pos.h)
        for cell in ((x, y) for x in columns for y in rows):
            assert cell not in taken, f"{panel.title!r} overlaps {taken[cell]!r}"
            taken[cell] = panel.title


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_queries_name_exported_series(path: Path) -> None:
    problems = [
        f"{where}: {problem}"
        for where, expr in queries(load(path))
        for problem in promql.problems(expr)
    ]
    assert not problems, "\n".join(problems)
    assert all(promql.metric_names(expr) for _, expr in queries(load(path)))


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_queries_use_defined_variables(path: Path) -> None:
    board = load(path)
    defined = {var.name for var in board.templating.variables}
    for _, expr in queries(board):
        used = {next(filter(None, m)) for m in _VARIABLE.findall(expr)}
        assert {name for name in used if not name.startswith("__")} <= defined, expr


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_datasources_are_the_provisioned_one(path: Path) -> None:
    uid = provisioned_datasource()["uid"]
    board = load(path)
    sources = [t.datasource for p in board.panels for t in p.targets]
    sources += [p.datasource for p in board.panels if p.datasource]
    sources += [v.datasource for v in board.templating.variables if v.datasource]
    assert sources and {source.uid for source in sources} == {uid}


def test_models_has_a_latency_heatmap_and_cost_gauges() -> None:
    board = load(GRAFANA / "dashboards/models.json")
    heatmaps = [p for p in board.panels if p.type == "heatmap"]
    assert any(
        t.format == "heatmap"
        and "naestro_model_call_duration_seconds_bucket" in promql.metric_names(t.expr)
        and re.search(r"sum by \(le\)", t.expr)
        for p in heatmaps
        for t in p.targets
    )
    gauges = [p for p in board.panels if p.type == "gauge"]
    by = {
        group
        for p in gauges
        for t in p.targets
        if promql.metric_names(t.expr) == {"naestro_model_cost_usd_total"}
        for group in re.findall(r"sum by \((\w+)\)", t.expr)
    }
    assert by == {"provider", "tenant"}
    assert all(p.model_dump()["fieldConfig"]["defaults"]["unit"] == "currencyUSD" for p in gauges)


def test_provisioning_points_at_the_dashboards() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/naestro.yaml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (le) (rate(naestro_model_call_duration_seconds_bucket{provider=~"$provider"}'
            "[$__rate_interval]))",
            {"naestro_model_call_duration_seconds_bucket"},
        ),
        (
            "sum by (reason) (rate(a_total[5m])) / ignoring (reason) group_left "
            'sum(rate(b_total{status=~"5.."}[5m] offset 1h)) > 0.1 and on() vector(1e3)',
            {"a_total", "b_total"},
        ),
        ("count(up == 0) or vector(0)", {"up"}),
        ('label_replace(x, "dst", "$1", "src", "(.*)") unless y:recorded', {"x", "y:recorded"}),
    ],
)
def test_metric_names_extraction(expr: str, names: set[str]) -> None:
    assert promql.metric_names(expr) == names
