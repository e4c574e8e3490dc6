"""Metrics end to end: a task through the API and the workers, scraped by a real
Prometheus (Debian's package) from the worker's /metrics endpoint and the API's route; the
task, model-call, cost, sandbox and API series hold values; the alert rules load, and the
one for PII in outputs fires when an answer leaks an address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from api.app import create_app
from naestro.telemetry import catalogue, metrics
from naestro.telemetry.runtime import serve as serve_metrics
from tests.api.conftest import UNLIMITED, Gw, serve
from tests.api.helpers import finished
from tests.observability import prometheus
from tests.support import (
    free_port,
    make_settings,
    replay_provider,
    running_workers,
    write_script,
)

CODE = (
    "```python\n# file: solution.py\ndef add(a, b):\n    return a + b\n```\n\n"
    "```python\n# file: test_solution.py\nfrom solution import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n```"
)
LEAK = "LEAK-CASE"  # a task whose answer holds an email address the user never gave
RULES: list[dict[str, Any]] = [
    {"role": "implementer", "contains": LEAK, "text": "Write to leaked.person@example.org."},
    {"role": "planner", "text": "1. Write add."},
    {"role": "implementer", "text": CODE, "output_tokens": 60},
    {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "ok"}'},
]
PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 4000.0}  # makes every call cost USD


async def test_prometheus_scrapes_a_tasks_series_from_the_worker_and_the_api(
    client: Client, database_url: str, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "script.jsonl", RULES)
    settings = make_settings(tmp_path, [replay_provider(script, price=PRICE)], api=UNLIMITED)
    worker_address = f"127.0.0.1:{free_port()}"
    server = serve_metrics(worker_address)
    try:
        async with running_workers(client, settings):
            app = create_app(settings, client=client, database_url=database_url)
            async with serve(app) as api_url:
                api_address = api_url.removeprefix("http://")
                targets = {"naestro-api": [api_address], "naestro-workers": [worker_address]}
                with prometheus(tmp_path, targets) as prom:
                    gw = Gw(api_url, settings, database_url)
                    async with gw.http(await gw.key("metrics-tenant")) as http:
                        started = await http.post(
                            "/v1/tasks", json={"prompt": "Write add(a, b).", "kind": "code"}
                        )
                        assert started.status_code in (200, 201, 202), started.text
                        view = await finished(http, started.json()["task_id"])
                        # The output-PII series exists (at 0) before the leak, so that
                        # Prometheus sees the leak as an increase.
                        metrics.count(catalogue.PII_FINDINGS, 0, type="EMAIL", stage="output")
                        await prom.eventually('naestro_pii_findings_total{stage="output"}')
                        leak = await http.post("/v1/tasks", json={"prompt": f"{LEAK}: who?"})
                        leaked = await finished(http, leak.json()["task_id"])
                        assert leaked["result"]["output_pii"] == ["EMAIL"], leaked
                    assert view["state"] == "completed", view
                    assert view["result"]["status"] == "succeeded", view

                    assert await prom.eventually("count(up == 1) == 2"), await prom.query("up")
                    for expr in (
                        'naestro_tasks_total{kind="code",status="succeeded"} >= 1',
                        'naestro_tasks_started_total{kind="code"} >= 1',
                        'naestro_phase_duration_seconds_count{phase="verify"} >= 1',
                        'naestro_model_calls_total{outcome="ok",role="implementer"} >= 1',
                        "naestro_model_call_duration_seconds_count >= 1",
                        'naestro_model_tokens_total{tenant="metrics-tenant"} > 0',
                        'naestro_model_cost_usd_total{tenant="metrics-tenant"} > 0',
                        'naestro_sandbox_runs_total{outcome="passed"} >= 1',
                        'naestro_api_requests_total{route="/v1/tasks",method="POST"} >= 1',
                        "naestro_breaker_open == 0",
                        "temporal_workflow_completed_total >= 1",
                    ):
                        assert await prom.eventually(expr), f"no series for {expr}"
                    # No task id in any label: every series' labels are low-cardinality.
                    series = await prom.get('/api/v1/series?match[]={__name__=~"naestro_.+"}')
                    labels = {k for s in series for k in s}
                    assert not labels & {"task_id", "workflow_id", "run_id"}
                    assert {s["__name__"] for s in series} <= catalogue.series_names()
                    rules = await prom.get("/api/v1/rules")
                    groups = rules["groups"]
                    assert groups and all(r["health"] != "err" for g in groups for r in g["rules"])
                    alert = 'ALERTS{alertname="NaestroPIIInOutputs",alertstate="firing"}'
                    firing = await prom.eventually(alert)
                    assert firing and firing[0]["metric"]["type"] == "EMAIL"
    finally:
        server.shutdown()
        server.server_close()
