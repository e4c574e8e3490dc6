"""Tasks over HTTP: idempotent start, read, list with tenant isolation, SSE, cancel, cache."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError

from naestro import search
from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.api.conftest import Gw
from tests.api.helpers import finished, pending, read_sse, task_state


async def test_idempotency_key_returns_the_same_task(gw: Gw, admin_key: str) -> None:
    key = uuid.uuid4().hex
    body = {"prompt": f"What is six times seven? {key}", "policy": "auto"}
    async with gw.http(admin_key) as http:
        first = await http.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
        second = await http.post("/v1/tasks", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 202, first.text
        assert second.status_code == 202, second.text
        assert first.json()["task_id"] == second.json()["task_id"]
        done = await finished(http, first.json()["task_id"])
        again = await http.post(
            "/v1/tasks", json=body, headers={"Idempotency-Key": key, "X-Naestro-Cache": "bypass"}
        )
    assert done["result"]["status"] == "succeeded"
    assert done["result"]["answer"] == "The answer is 42."
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.json()["result"]["answer"] == "The answer is 42."  # the finished task


async def test_exact_repeat_is_answered_from_the_cache(gw: Gw, admin_key: str) -> None:
    prompt = f"Cache me {uuid.uuid4().hex}"
    async with gw.http(admin_key) as http:
        first = await http.post("/v1/tasks", json={"prompt": prompt})
        assert first.headers["X-Naestro-Cache"] == "miss"
        await finished(http, first.json()["task_id"])
        hit = await http.post("/v1/tasks", json={"prompt": "  " + prompt.replace(" ", "   ")})
        bypass = await http.post(
            "/v1/tasks", json={"prompt": prompt}, headers={"X-Naestro-Cache": "bypass"}
        )
    assert hit.status_code == 200
    assert hit.headers["X-Naestro-Cache"] == "hit"
    assert hit.json()["cached"] is True
    assert hit.json()["result"]["answer"] == "The answer is 42."
    assert hit.json()["task_id"] == first.json()["task_id"]  # no workflow was started
    assert bypass.status_code == 202 and bypass.json()["task_id"] != first.json()["task_id"]


async def test_events_arrive_in_order_and_resume(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        started = await http.post("/v1/tasks", json={"prompt": f"Events {uuid.uuid4()}"})
        task_id = started.json()["task_id"]
        events = await read_sse(http, f"/v1/tasks/{task_id}/events")
        resumed = await read_sse(
            http, f"/v1/tasks/{task_id}/events", headers={"Last-Event-ID": events[2]["id"]}
        )
    progress = [e for e in events if e["event"] != "token"]
    seqs = [e["data"]["seq"] for e in progress]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [int(e["id"].partition(".")[0]) for e in progress] == seqs  # ids are cursors
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "status" and events[-1]["data"]["data"]["status"] == "succeeded"
    phases = [e["data"]["data"]["phase"] for e in events if e["event"] == "phase"]
    assert phases[:3] == ["plan", "implement", "review"] and phases[-1] == "done"
    calls = [e["data"]["data"]["role"] for e in events if e["event"] == "model_call"]
    assert calls == ["planner", "implementer", "judge"]
    assert [e["id"] for e in resumed] == [e["id"] for e in events[3:]]  # the same, once


async def test_tenants_see_only_their_own_tasks(gw: Gw) -> None:
    mine, theirs = await gw.key("tenant-a"), await gw.key("tenant-b", ("tasks:read",))
    async with gw.http(mine) as a, gw.http(theirs) as b:
        task_id = (await a.post("/v1/tasks", json={"prompt": "tenant a's"})).json()["task_id"]
        listed_a = (await a.get("/v1/tasks")).json()["tasks"]
        listed_b = (await b.get("/v1/tasks", params={"tenant": "tenant-a"})).json()["tasks"]
        seen_by_b = await b.get(f"/v1/tasks/{task_id}")
        events_b = await b.get(f"/v1/tasks/{task_id}/events")
        await finished(a, task_id)
    assert task_id in {t["task_id"] for t in listed_a}
    assert all(t["tenant"] == "tenant-a" for t in listed_a)
    assert task_id not in {t["task_id"] for t in listed_b}
    assert seen_by_b.status_code == 404 and events_b.status_code == 404


async def test_scopes_are_enforced(gw: Gw) -> None:
    reader = await gw.key("acme", ("tasks:read",))
    async with gw.http(reader) as http:
        write = await http.post("/v1/tasks", json={"prompt": "x"})
        read = await http.get("/v1/tasks")
        approve = await http.post(
            "/v1/tasks/task-x/approval",
            json={"action": "approve", "stage": "plan", "content_hash": "0" * 64},
        )
    async with gw.http() as anonymous:
        nobody = await anonymous.get("/v1/tasks")
    async with gw.http("nk_000000000000_wrong") as bad:
        wrong = await bad.get("/v1/tasks")
    assert write.status_code == 403 and "tasks:write" in write.json()["detail"]
    assert read.status_code == 200
    assert approve.status_code == 403
    assert nobody.status_code == 401 and wrong.status_code == 401


async def test_bad_bodies_get_422_naming_the_field_and_huge_prompts_413(
    gw: Gw, admin_key: str
) -> None:
    async with gw.http(admin_key) as http:
        missing = await http.post("/v1/tasks", json={"kind": "code"})
        wrong_kind = await http.post("/v1/tasks", json={"prompt": "x", "kind": "poetry"})
        policy = await http.post("/v1/tasks", json={"prompt": "x", "policy": "nope"})
        huge = await http.post("/v1/tasks", json={"prompt": "x" * 100_001})
        body = await http.post("/v1/tasks", json={"prompt": "x" * 1_000_001})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert wrong_kind.status_code == 422 and wrong_kind.json()["detail"][0]["loc"][-1] == "kind"
    assert policy.status_code == 422 and policy.json()["detail"][0]["loc"] == ["body", "policy"]
    assert huge.status_code == 413 and "prompt" in huge.json()["detail"]
    assert body.status_code == 413 and "body" in body.json()["detail"]


async def test_cancel_ends_a_waiting_task(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        started = await http.post("/v1/tasks", json={"prompt": "wait", "policy": "approve_plan"})
        task_id = started.json()["task_id"]
        await pending(http, task_id, "plan")
        cancelled = await http.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "changed mind"})
        done = await finished(http, task_id)
        again = await http.post(f"/v1/tasks/{task_id}/cancel")
    assert cancelled.status_code == 202
    assert done["result"]["status"] == "cancelled"
    assert again.status_code == 409


async def test_priority_classes_map_to_temporal_priority(
    gw: Gw, admin_key: str, client: Client
) -> None:
    async with gw.http(admin_key) as http:
        batch = await http.post("/v1/tasks", json={"prompt": "later", "priority": "batch"})
        live = await http.post("/v1/tasks", json={"prompt": "now", "priority": "interactive"})
        for reply in (batch, live):
            await finished(http, reply.json()["task_id"])
    keys = []
    for reply in (batch, live):
        desc = await client.get_workflow_handle(reply.json()["task_id"]).describe()
        keys.append(desc.raw_info.priority.priority_key)
        assert desc.typed_search_attributes.get(search.PRIORITY) == keys[-1]
    assert keys == [5, 1]


async def test_feedback_is_recorded_for_own_tasks_only(gw: Gw, admin_key: str) -> None:
    other = await gw.key("someone-else", ("tasks:read",))
    async with gw.http(admin_key) as http, gw.http(other) as stranger:
        task_id = (await http.post("/v1/tasks", json={"prompt": "rate me"})).json()["task_id"]
        await finished(http, task_id)
        body = {"kind": "issue", "comment": "the answer is off by one"}
        mine = await http.post(f"/v1/tasks/{task_id}/feedback", json=body)
        theirs = await stranger.post(f"/v1/tasks/{task_id}/feedback", json=body)
    assert mine.status_code == 201 and mine.json()["task_id"] == task_id
    assert theirs.status_code == 404


async def test_verification_results_are_events(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        body = {"prompt": f"Write code {uuid.uuid4()}", "kind": "code"}
        task_id = (await http.post("/v1/tasks", json=body)).json()["task_id"]
        events = await read_sse(http, f"/v1/tasks/{task_id}/events")
    checks = [e["data"]["data"] for e in events if e["event"] == "verification"]
    assert checks and checks[0] == {
        "passed": False,
        "summary": "the answer held no code blocks to verify",
    }
    assert events[-1]["data"]["data"]["status"] == "unverified"


async def test_a_failed_task_says_failed_and_why(gw: Gw, admin_key: str, client: Client) -> None:
    # Started beside the API (which refuses an unknown policy): the workflow itself fails.
    request = TaskRequest(prompt=f"Fail {uuid.uuid4()}", policy="nope", tenant="acme")
    handle = await start_task(client, request, task_queue=gw.settings.queues.orchestrator)
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 60)
    async with gw.http(admin_key) as http:
        view = await task_state(http, handle.id)
        listed = (await http.get("/v1/tasks", params={"kind": "general"})).json()["tasks"]
        failed = (await http.get("/v1/tasks", params={"status": "failed"})).json()["tasks"]
        running = (await http.get("/v1/tasks", params={"status": "running"})).json()["tasks"]
    assert view["state"] == "failed" and view["status"] == "failed"
    # The filter goes by the same status as the rows (the run never set its NaestroStatus)
    assert handle.id in {t["task_id"] for t in failed}
    assert handle.id not in {t["task_id"] for t in running}
    assert view["error"] and "nope" in view["error"]
    row = next(t for t in listed if t["task_id"] == handle.id)
    assert row["state"] == "failed" and row["status"] == "failed"
