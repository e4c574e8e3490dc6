"""The web console's API: the caller's config, the local engines, the task list's filters
and the fields a list row carries (against the real gateway: Temporal, Postgres, workers)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from activities.routing import gauges
from activities.routing.governor import Governor
from api.routers.engines import engine_views
from naestro.config.settings import Settings
from naestro.contracts import CallOutcome
from tests.api.conftest import Gw, gateway_settings, serve
from tests.api.helpers import finished, until


async def test_console_config_says_who_calls_and_where_the_ui_is(gw: Gw) -> None:
    admin, reader = await gw.key("acme"), await gw.key("acme", ("tasks:read",))
    async with gw.http(admin) as a, gw.http(reader) as r, gw.http() as anonymous:
        as_admin = (await a.get("/v1/console")).json()
        as_reader = (await r.get("/v1/console")).json()
        refused = await anonymous.get("/v1/console")
        script = await anonymous.get("/task.js")
        unknown = await anonymous.get("/settings.js")
    assert refused.status_code == 401
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert unknown.status_code == 404  # only the page's own scripts are served
    assert as_admin["admin"] is True and as_reader["admin"] is False
    assert as_admin["tenant"] == as_reader["tenant"] == "acme"
    assert {"default", "approve_plan", "consensus"} <= set(as_admin["policies"])
    assert as_admin["kinds"] == ["code", "math", "general"]
    assert "succeeded" in as_admin["statuses"]
    assert as_admin["temporal_ui_url"].startswith("http") and as_admin["namespace"]


async def test_list_filters_by_policy_kind_and_status(gw: Gw) -> None:
    tenant = f"console-{uuid.uuid4().hex[:8]}"
    key = await gw.key(tenant)
    async with gw.http(key) as http:
        by_default = await http.post("/v1/tasks", json={"prompt": f"default {uuid.uuid4()}"})
        by_consensus = await http.post(
            "/v1/tasks",
            json={"prompt": f"consensus {uuid.uuid4()}", "policy": "consensus", "kind": "math"},
        )
        ids = {by_default.json()["task_id"]: "default", by_consensus.json()["task_id"]: "consensus"}
        for task_id in ids:
            assert (await finished(http, task_id))["result"]["status"] == "succeeded"

        async def listed(**params: str) -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = (await http.get("/v1/tasks", params=params)).json()[
                "tasks"
            ]
            settled = all(r["status"] == "succeeded" for r in rows) and len(rows) >= 1
            return rows if settled else None  # visibility catches up with the ends

        everything = await until(lambda: listed())
        consensus = await until(lambda: listed(policy="consensus"))
        default = await until(lambda: listed(policy="default", kind="general"))
        math_done = await until(lambda: listed(kind="math", status="succeeded"))
        none = (await http.get("/v1/tasks", params={"policy": "approve_plan"})).json()["tasks"]
        view = (await http.get(f"/v1/tasks/{by_consensus.json()['task_id']}")).json()
    assert {r["task_id"] for r in everything} == set(ids)
    assert [(r["task_id"], r["policy"], r["kind"]) for r in consensus] == [
        (by_consensus.json()["task_id"], "consensus", "math")
    ]
    assert [r["task_id"] for r in default] == [by_default.json()["task_id"]]
    assert [r["task_id"] for r in math_done] == [by_consensus.json()["task_id"]]
    assert none == []
    for row in [*everything, view]:
        assert row["created_at"] and row["closed_at"] and row["cost_usd"] is not None
        assert row["confidence"] is not None and row["url"].endswith("/workflows/" + row["task_id"])
    assert (view["policy"], view["kind"], view["tenant"]) == ("consensus", "math", tenant)


def _engine_settings(tmp: Path, up_url: str) -> Settings:
    """The gateway's settings plus a local engine that answers and a supervised one."""
    data = gateway_settings(tmp).model_dump(exclude={"source"})
    data["providers"].append(
        {"id": "up", "engine": "vllm", "model": "m-up", "endpoint": up_url, "gpus": 0}
    )
    data["engines"] = [{"id": "down", "kind": "llamacpp", "model": "/none.gguf", "port": 9}]
    data["dev"] = {**data["dev"], "data_dir": str(tmp)}
    return Settings.model_validate(data)


def _models_server(*served: str) -> FastAPI:
    """A loopback stand-in for an OpenAI-compatible engine's /v1/models."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in served]}

    return app


async def test_engines_report_readiness_state_and_breaker(tmp_path: Path) -> None:
    async with serve(_models_server("m-up")) as engine_url:
        settings = _engine_settings(tmp_path, engine_url + "/v1")
        (tmp_path / "engines").mkdir()
        status = {
            "id": "down",
            "kind": "llamacpp",
            "endpoint": "http://127.0.0.1:9/v1",
            "model": "m",
            "state": "backoff",
            "restarts": 2,
            "detail": "exited with 1",
        }
        (tmp_path / "engines" / "down.json").write_text(json.dumps(status))
        governor = Governor(settings)
        gauges.watch(governor)  # as the orchestrator worker does: the newest answers
        for n in range(settings.governor.breaker_failures):
            governor.observe(CallOutcome(provider_id="down", ok=False, key=f"k{n}"))
        governor.observe(CallOutcome(provider_id="up", ok=True, latency_ms=5, key="ok"))
        views = {v.id: v for v in await engine_views(settings)}
    assert set(views) == {"scripted", "down", "up"}  # local ones only
    up, down, scripted = views["up"], views["down"], views["scripted"]
    assert (up.ready, up.engine, up.model, up.endpoint) == (
        True,
        "vllm",
        "m-up",
        engine_url + "/v1",
    )
    assert up.breaker == "closed" and up.state is None and up.kind is None
    assert (down.ready, down.kind, down.state, down.restarts) == (False, "llamacpp", "backoff", 2)
    assert down.breaker == "open" and down.detail == "exited with 1"
    assert down.endpoint == "http://127.0.0.1:9/v1"
    assert scripted.ready is None and scripted.engine == "replay" and scripted.endpoint is None
    del governor


async def test_engines_endpoint_needs_a_reader(gw: Gw) -> None:
    key = await gw.key("acme", ("tasks:read",))
    async with gw.http(key) as http, gw.http() as anonymous:
        reply = await http.get("/v1/engines")
        refused = await anonymous.get("/v1/engines")
    assert refused.status_code == 401
    assert reply.status_code == 200, reply.text
    engines = {e["id"]: e for e in reply.json()["engines"]}
    assert engines["down"]["ready"] is False and engines["down"]["endpoint"].endswith(":9/v1")
    assert engines["scripted"]["engine"] == "replay"
