"""Research jobs over HTTP against a real gateway, dev server, workers (memory on) and
Postgres: start, view, list, steer (accepted, refused with the validator's message),
unknown ids, SSE iteration events resumable with Last-Event-ID, and the report."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from api.app import create_app
from tests.api.conftest import UNLIMITED, Gw, serve
from tests.api.helpers import until
from tests.api.test_browser import ARGS as BROWSER_ARGS
from tests.api.test_browser import CHROMIUM
from tests.research.jobs import GOAL, QUESTIONS, REPORT, rules
from tests.support import make_settings, replay_provider, running_workers, write_script

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
async def rgw(env: Any, database_url: str) -> AsyncIterator[Gw]:
    """A gateway whose workers keep research findings in the gateway's own database."""
    url_env = f"NAESTRO_TEST_DB_{uuid.uuid4().hex[:8]}"
    os.environ[url_env] = database_url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = write_script(Path(tmp) / "script.jsonl", rules(judge=0.3))
            settings = make_settings(
                Path(tmp),
                [replay_provider(script)],
                memory={"enabled": True, "database_url_env": url_env},
                api={**UNLIMITED, "auth_cache_seconds": 0},
            )
            async with running_workers(env.client, settings):
                app = create_app(settings, client=env.client, database_url=database_url)
                async with serve(app) as url:
                    yield Gw(url, settings, database_url)
    finally:
        del os.environ[url_env]


def job_body(**extra: Any) -> dict[str, Any]:
    """A long cadence: after its first iteration the job waits, to be steered. Three
    questions gathered at once: these tests read jobs after they end (a query replays the
    history, so a gather that replayed out of order would show here)."""
    body = {"goal": GOAL, "questions": QUESTIONS, "questions_per_iteration": 3}
    return {**body, "cadence_seconds": 3600, **extra}


async def view_of(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    reply = await http.get(f"/v1/research/{job_id}")
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


async def sse_until(
    http: httpx.AsyncClient,
    path: str,
    done: Callable[[dict[str, Any]], bool],
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """An SSE stream's events [{id, event, data}] up to the first for which ``done`` holds
    (or the stream's end)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with http.stream("GET", path, headers=headers or {}) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                current[name] = value.strip()
                continue
            if "data" in current:
                current["data"] = json.loads(current["data"])
                out.append(current)
                if done(current):
                    break
            current = {}
    return out


def iteration(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == "iteration" and e["data"]["data"]["iteration"] == n


async def waiting_after(http: httpx.AsyncClient, job_id: str, iteration: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        view = await view_of(http, job_id)
        return view if view["status"] == "waiting" and view["iteration"] >= iteration else None

    return await until(probe, within=60)


async def test_start_view_steer_follow_and_report(rgw: Gw) -> None:
    key = await rgw.key("acme", ("tasks:read", "tasks:write"))
    async with rgw.http(key) as http:
        started = await http.post("/v1/research", json=job_body())
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert job_id.startswith("research-") and started.json()["tenant"] == "acme"

        view = await waiting_after(http, job_id, 1)
        assert view["goal"] == GOAL and view["findings"] == 3
        assert [(q["id"], q["status"]) for q in view["questions"]] == [
            ("q1", "answered"), ("q2", "answered"), ("q3", "answered"),
        ]  # fmt: skip
        listed = (await http.get("/v1/research", params={"status": "waiting"})).json()["jobs"]
        row = next(j for j in listed if j["job_id"] == job_id)
        assert (row["state"], row["tenant"], row["goal"], row["iteration"]) == (
            "running", "acme", GOAL, 1,
        )  # fmt: skip

        pending = await http.get(f"/v1/research/{job_id}/report")
        assert pending.status_code == 202, pending.text
        assert pending.json()["view"]["iteration"] == 1 and pending.json()["latest"] is None

        refused = await http.post(
            f"/v1/research/{job_id}/steer", json={"action": "drop_question", "question_id": "q9"}
        )
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("steering refused: no question q9 in this job")
        bad = await http.post(f"/v1/research/{job_id}/steer", json={"action": "explode"})
        assert bad.status_code == 422

        added = await http.post(
            f"/v1/research/{job_id}/steer",
            json={"action": "add_question", "question": "How high can tides get?", "reason": "r"},
        )
        assert added.status_code == 200, added.text
        assert added.json() == {
            "action": "add_question",
            "message": "q4 is asked from iteration 2",
            "applies_at": 2,
        }
        view = await waiting_after(http, job_id, 2)  # the new question woke the job
        assert view["questions"][-1]["id"] == "q4" and view["questions"][-1]["status"] == "answered"
        assert view["steers"][0]["command"]["by"].startswith("key:")

        events = await sse_until(http, f"/v1/research/{job_id}/events", iteration(2))
        kinds = [e["event"] for e in events]
        iterations = [e for e in events if e["event"] == "iteration"]
        assert [e["data"]["data"]["iteration"] for e in iterations] == [1, 2]
        assert "steer" in kinds and "phase" in kinds
        seqs = [int(e["id"]) for e in events]
        assert seqs == sorted(seqs)
        resumed = await sse_until(
            http,
            f"/v1/research/{job_id}/events",
            iteration(2),
            headers={"Last-Event-ID": iterations[0]["id"]},
        )
        assert [int(e["id"]) for e in resumed] == [s for s in seqs if s > int(iterations[0]["id"])]

        # Follow it live to its end (the stream closes after the final status event)
        since = {"Last-Event-ID": str(seqs[-1])}
        path = f"/v1/research/{job_id}/events"
        tail = asyncio.create_task(sse_until(http, path, lambda e: False, since))
        stopped = await http.post(
            f"/v1/research/{job_id}/steer", json={"action": "stop", "reason": "enough"}
        )
        assert stopped.status_code == 200, stopped.text

        async def report() -> httpx.Response | None:
            reply = await http.get(f"/v1/research/{job_id}/report")
            return reply if reply.status_code == 200 else None

        done = (await until(report, within=60)).json()
        after = await http.post(f"/v1/research/{job_id}/steer", json={"action": "pause"})
        ended = await tail
    assert done["stop_reason"] == "stopped" and done["iterations"] == 2
    assert done["report"].startswith(REPORT) and done["findings"] == 4
    assert after.status_code == 409 and "is not running" in after.json()["detail"]
    assert "steer" in [e["event"] for e in ended]  # the stop
    assert ended[-1]["event"] == "status" and ended[-1]["data"]["data"]["status"] == "stopped"


async def test_unknown_and_other_tenants_jobs_are_404_and_bad_input_4xx(rgw: Gw) -> None:
    acme = await rgw.key("acme", ("tasks:read", "tasks:write"))
    other = await rgw.key("globex", ("tasks:read", "tasks:write"))
    reader = await rgw.key("acme", ("tasks:read",))
    async with rgw.http(acme) as http:
        started = await http.post(
            "/v1/research", json=job_body(), headers={"Idempotency-Key": "k1"}
        )
        again = await http.post("/v1/research", json=job_body(), headers={"Idempotency-Key": "k1"})
        job_id = started.json()["job_id"]
        missing = [
            await http.get("/v1/research/research-nope"),
            await http.get("/v1/research/research-nope/report"),
            await http.get("/v1/research/research-nope/events"),
            await http.post("/v1/research/research-nope/steer", json={"action": "pause"}),
        ]
        tenant = await http.post("/v1/research", json=job_body(tenant="globex"))
        policy = await http.post("/v1/research", json=job_body(policy="nope"))
        empty = await http.post("/v1/research", json={"goal": ""})
    async with rgw.http(other) as http:
        hidden = await http.get(f"/v1/research/{job_id}")
        hidden_steer = await http.post(f"/v1/research/{job_id}/steer", json={"action": "stop"})
        listed = (await http.get("/v1/research")).json()["jobs"]
    async with rgw.http(reader) as http:
        forbidden = await http.post(f"/v1/research/{job_id}/steer", json={"action": "stop"})
    async with rgw.http(acme) as http:
        steer = f"/v1/research/{job_id}/steer"
        nul = await http.post(steer, json={"action": "add_question", "question": "a\x00b"})
        raw = '{"action": "redirect", "goal": "go \\ud800 on"}'  # a lone surrogate, escaped
        surrogate = await http.post(
            steer, content=raw, headers={"Content-Type": "application/json"}
        )
        view = await view_of(http, job_id)
        stop = await http.post(steer, json={"action": "stop"})
    assert started.status_code == 202 and again.json()["job_id"] == job_id
    assert nul.status_code == 422 and "must not hold a NUL" in nul.text
    assert "question" in nul.text
    assert surrogate.status_code == 422 and "goal" in surrogate.text, surrogate.text
    assert view["steers"] == []  # neither reached the job
    assert [r.status_code for r in missing] == [404] * 4
    assert missing[0].json()["detail"] == "no research job with id 'research-nope'"
    assert tenant.status_code == 422 and "set by your credential" in tenant.text
    assert policy.status_code == 422 and "unknown policy 'nope'" in policy.text
    assert empty.status_code == 422
    assert hidden.status_code == 404 and hidden_steer.status_code == 404
    assert job_id not in {j["job_id"] for j in listed}
    assert forbidden.status_code == 403
    assert stop.status_code == 200, stop.text


async def test_web_page_lists_shows_and_steers_a_job(rgw: Gw) -> None:
    key = await rgw.key("acme", ("tasks:read", "tasks:write"))
    async with rgw.http(key) as http:
        job_id = (await http.post("/v1/research", json=job_body())).json()["job_id"]
        await waiting_after(http, job_id, 1)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = await browser.new_page()
        await page.goto(rgw.url + "/")
        await page.fill("#apikey", key)
        await page.press("#apikey", "Tab")  # change event: the page lists the jobs
        await page.locator(f"#rjobs .job[data-job='{job_id}']").click()
        await expect(page.locator("#rgoaltext")).to_have_text(GOAL)
        await expect(page.locator("#rstatus")).to_have_text("waiting")
        await expect(page.locator("#rfindings li")).to_have_count(3)
        await expect(page.locator("#revents")).to_contain_text("iteration: iteration 1")
        await page.fill("#rquestion", "How high can tides get?")
        await page.click("#radd")
        await expect(page.locator("#rnote")).to_have_text(
            "q4 is asked from iteration 2 (applies at iteration 2)"
        )
        await expect(page.locator("#revents")).to_contain_text("iteration: iteration 2")
        await page.click("#rpause")
        await expect(page.locator("#rnote")).to_contain_text("pauses before iteration 3")
        await page.click("#rpause")
        await expect(page.locator("#rnote")).to_contain_text("steering refused: the job is paused")
        await page.click("#rstop")
        await expect(page.locator("#rstatus")).to_have_text("done (stopped)", timeout=30_000)
        await expect(page.locator("#rsteer")).to_be_hidden()
        await browser.close()
