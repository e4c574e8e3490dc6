"""Prometheus config and alert rules (infra/prometheus/): promtool accepts them, their unit
tests pass (a rule fires, another stays quiet), and every rule queries exported series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra import promql

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "prometheus"
REQUIRED = {
    "NaestroModelErrorRateHigh",
    "NaestroModelLatencySpike",
    "NaestroTaskFailureRateHigh",
    "NaestroBudgetBurnHigh",
    "NaestroBudgetExhaustions",
    "NaestroPIIInOutputs",
    "NaestroBreakerOpen",
    "NaestroEngineDown",
    "NaestroActivityBacklog",
    "NaestroWorkflowTaskBacklog",
    "NaestroTasksPilingUp",
    "NaestroAPIErrorRateHigh",
    "NaestroAPIThrottlingSurge",
}
# Labels that would make one alert per task or request: never on a rule.
ID_LABELS = {"task_id", "workflow_id", "run_id", "request_id"}


def rules() -> list[dict[str, object]]:
    config = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in config["groups"] for rule in group["rules"]]


def promtool(*args: str) -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run scripts/install-monitoring-tools.sh")
    done = subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules() -> None:
    assert f"SUCCESS: {len(rules())} rules found" in promtool("check", "rules", "alerts.yml")


def test_promtool_unit_tests_pass() -> None:
    promtool("test", "rules", "alerts_test.yml")


def test_promtool_checks_the_config() -> None:
    out = promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out


def test_unit_tests_see_a_rule_fire_and_stay_quiet() -> None:
    cases = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    assert any(check["exp_alerts"] for check in checks)
    assert any(not check["exp_alerts"] for check in checks)


def test_every_required_alert_is_there() -> None:
    assert {rule["alert"] for rule in rules()} >= REQUIRED


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_rule_queries_exported_series(rule: dict[str, object]) -> None:
    expr = str(rule["expr"])
    assert promql.metric_names(expr)
    assert not promql.problems(expr)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_rule_is_labelled_and_explained(rule: dict[str, object]) -> None:
    labels = rule["labels"]
    annotations = rule["annotations"]
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert labels["severity"] in {"info", "warning", "critical"}
    assert {"summary", "description"} <= annotations.keys()
    assert not ID_LABELS & labels.keys()
    assert not any(f"by ({name}" in str(rule["expr"]) for name in ID_LABELS)


def test_prometheus_scrapes_api_and_workers() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["naestro-api"]["static_configs"][0]["targets"] == ["api:8787"]
    assert jobs["naestro-workers"]["static_configs"][0]["targets"]
    assert config["rule_files"] == ["alerts.yml"]
