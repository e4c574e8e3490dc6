"""The web console in headless Chromium (Debian's): the task list and its filters, a task's
page while it runs (live tokens) and once it has finished (timeline, calls, verification,
verdict, confidence, the Temporal UI link), approving, reporting and refining.

Screenshots go to each test's tmp dir, and to $NAESTRO_SCREENSHOTS too when it is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.api.conftest import UNLIMITED, Gw, serve
from tests.api.helpers import finished, until
from tests.support import make_settings, replay_provider, running_workers, write_script

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def console(url: str, key: str) -> AsyncIterator[Page]:
    """A page of the console at ``url`` with the API key entered."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(url + "/")
            await page.fill("#apikey", key)
            await page.press("#apikey", "Tab")  # change event: the page loads its config
            await expect(page.locator("#whoami")).not_to_be_empty()
            yield page
        finally:
            await browser.close()


async def shot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    _keep(path)
    return path


def _keep(path: Path) -> None:
    assert path.stat().st_size > 10_000
    if out := os.environ.get("NAESTRO_SCREENSHOTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)


async def test_submit_approve_and_read_the_finished_task(
    gw: Gw, admin_key: str, tmp_path: Path
) -> None:
    async with console(gw.url, admin_key) as page:
        await expect(page.locator("#policy option[value=approve_plan]")).to_have_count(1)
        await page.fill("#prompt", "What is six times seven? (browser)")
        await page.select_option("#policy", "approve_plan")
        await page.click("#generate")
        await expect(page).to_have_url(re.compile(r"#/tasks/task-"))
        task_id = page.url.split("#/tasks/")[1]
        await expect(page.locator("#status")).to_contain_text("waiting for plan approval")
        await expect(page.locator("#phases span.now")).to_have_text("approve")
        await expect(page.locator("#t-preview")).to_contain_text("Think")
        await page.click("#t-approve")
        await expect(page.locator("#answer")).to_have_text("The answer is 42.", timeout=30_000)
        await expect(page.locator("#outcome")).to_have_text("succeeded")
        await expect(page.locator("#t-verdict")).to_have_text("accept (score 0.90)")
        await expect(page.locator("#confidence")).to_have_text(re.compile(r"^0\.\d\d$"))
        await expect(page.locator("#t-state")).to_have_text("succeeded")
        timeline = page.locator("#t-timeline > li")
        await expect(timeline.first).to_have_attribute("data-phase", "plan")
        phases = await timeline.evaluate_all("(items) => items.map((i) => i.dataset.phase)")
        assert phases[:4] == ["plan", "approve", "implement", "review"], phases
        rows = page.locator("#t-calls tbody tr")
        await expect(rows).to_have_count(3)
        roles = await rows.evaluate_all("(rs) => rs.map((r) => r.cells[1].textContent)")
        assert roles == ["planner", "implementer", "judge"]
        await expect(rows.first).to_contain_text("scripted-model")
        link = page.locator("#t-temporal")
        await expect(link).to_have_attribute("href", re.compile(f"/workflows/{task_id}$"))
        await expect(page.locator("#t-vsummary")).to_contain_text("not run")
        page.once("dialog", lambda dialog: dialog.accept("wrong number"))
        await page.click("#report")
        await expect(page.locator("#note")).to_contain_text(f"recorded for {task_id}")
        await shot(page, tmp_path, "console-task-finished.png")

        await page.fill("#t-feedback", "Show the working.")
        await page.click("#refine")
        await expect(page).not_to_have_url(re.compile(f"#/tasks/{task_id}$"))
        await expect(page.locator("#taskid")).not_to_have_text(task_id)
        await expect(page.locator("#t-policy")).to_have_text("approve_plan")
        await expect(page.locator("#status")).to_contain_text("waiting for plan approval")
        await page.click("#t-cancel")
        await expect(page.locator("#t-state")).to_have_text("cancelled", timeout=30_000)


async def test_the_task_list_and_its_filters(gw: Gw, tmp_path: Path) -> None:
    key = await gw.key(f"list-{uuid.uuid4().hex[:8]}")
    async with gw.http(key) as http:
        started = {
            policy: (
                await http.post("/v1/tasks", json={"prompt": p, "policy": policy, "kind": k})
            ).json()["task_id"]
            for policy, k, p in (
                ("auto", "general", "six times seven"),
                ("consensus", "math", "7*6"),
            )
        }
        for task_id in started.values():
            await finished(http, task_id)

        async def settled() -> bool:
            rows = (await http.get("/v1/tasks")).json()["tasks"]
            return len(rows) == 2 and all(r["status"] == "succeeded" for r in rows)

        await until(settled)
    async with console(gw.url, key) as page:
        rows = page.locator("#tasks tbody tr[data-task]")
        await expect(rows).to_have_count(2)
        await expect(page.locator("#f-tenant-label")).to_be_visible()  # an admin's key
        await expect(page.locator("#engines tbody tr[data-engine=down]")).to_contain_text("down")
        await shot(page, tmp_path, "console-tasks.png")
        await page.select_option("#f-policy", "consensus")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-task", started["consensus"])
        await expect(rows.first).to_contain_text("math")
        await expect(page.locator("#tasks-note")).to_have_text("1 task (filtered)")
        await page.select_option("#f-policy", "")
        await page.select_option("#f-kind", "general")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-task", started["auto"])
        await page.select_option("#f-status", "failed")
        await expect(page.locator("#tasks tbody")).to_contain_text("no tasks match")
        await shot(page, tmp_path, "console-tasks-filtered.png")
        await page.select_option("#f-status", "")
        await page.click(f"#tasks a[href='#/tasks/{started['auto']}']")
        await expect(page.locator("#answer")).to_have_text("The answer is 42.")


def _sse(*events: tuple[str, dict[str, Any]]) -> str:
    return "".join(
        f"id: {n}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
        for n, (name, data) in enumerate(events, 1)
    )


def _progress(seq: int, kind: str, **data: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"seq": seq, "type": kind, "at": "2026-01-02T03:04:05Z", "data": data}


def _token(call: str, phase: str, role: str, text: str, offset: int, final: bool = False) -> Any:
    body = {"call": call, "phase": phase, "role": role, "provider": "local-vllm"}
    return "token", {**body, "text": text, "final": final, "offset": offset}


CALL = {"provider": "local-vllm", "model": "qwen-7b", "cost_usd": 0.0, "scripted": False}
PLANNER = {**CALL, "phase": "plan", "role": "planner", "input_tokens": 40, "output_tokens": 9}
PLANNER["latency_ms"] = 800.0
CODER = {**CALL, "phase": "implement", "role": "implementer", "input_tokens": 90}
CODER |= {"output_tokens": 30, "latency_ms": 2400.0}
REPORT = {
    "backend": "bubblewrap",
    "passed": False,
    "exit_code": 1,
    "duration_ms": 1500.0,
    "summary": "1 of 2 tests failed",
    "tests": [
        {"name": "test_small", "outcome": "passed"},
        {"name": "test_large", "outcome": "failed", "message": "assert 5 == 6"},
    ],
}
CHECKS = [
    {"checker": "math", "passed": True, "summary": "42 equals 6*7", "details": {"expected": "42"}},
    {"checker": "json_schema", "passed": False, "summary": "'answer' is required", "details": {}},
]


def _view(task_id: str, finished_: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task_id,
        "tenant": "acme",
        "state": "completed" if finished_ else "running",
        "phase": "done" if finished_ else "plan",
        "status": "unverified" if finished_ else "running",
        "kind": "code",
        "policy": "default",
        "created_at": "2026-01-02T03:04:00Z",
        "url": f"http://localhost:8233/namespaces/default/workflows/{task_id}",
        "confidence": 0.41 if finished_ else None,
    }
    if finished_:
        view["result"] = {
            "task_id": task_id,
            "status": "unverified",
            "answer": "def f(n):\n    return n + 1",
            "plan": "Step one. Step two.",
            "verification": REPORT,
            "checks": CHECKS,
            "verdict": {"verdict": "revise", "score": 0.55, "rationale": "off by one"},
            "confidence": 0.41,
            "rounds": 1,
            "spend": {"input_tokens": 130, "output_tokens": 39, "usd": 0.0, "model_calls": 2},
            "trace": [PLANNER, CODER],
            "reason": "tests failed",
        }
    return view


async def test_a_task_page_renders_tokens_calls_checks_and_verdict(
    gw: Gw, admin_key: str, tmp_path: Path
) -> None:
    """The page against a scripted task API (what a code task with checks and live tokens
    sends): tokens append per call under their phase; the finished view fills the rest."""
    task_id = f"task-scripted-{uuid.uuid4().hex[:8]}"
    stream = _sse(
        _progress(1, "phase", phase="plan", round=0),
        _token("a.1", "plan", "planner", "Step one. ", 0),
        _token("a.1", "plan", "planner", "Step two.", 10, final=True),
        _progress(2, "model_call", **PLANNER),
        _progress(3, "phase", phase="implement", round=1),
        _token("b.1", "implement", "implementer", "def f(n):\n", 0),
        _token("b.1", "implement", "implementer", "    return n + 1", 10),
        _token("b.1", "implement", "implementer", "", 26, final=True),
        _progress(4, "model_call", **CODER),
        _progress(5, "verification", passed=False, summary="1 of 2 tests failed"),
        _progress(6, "status", status="unverified", reason="tests failed"),
    )
    reads: list[str] = []

    async def task_api(route: Route) -> None:
        if route.request.url.endswith("/events"):
            await route.fulfill(status=200, content_type="text/event-stream", body=stream)
            return
        reads.append(route.request.url)
        body = _view(task_id, finished_=len(reads) > 1)
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    async with console(gw.url, admin_key) as page:
        await page.route(re.compile(f"/v1/tasks/{task_id}(/events)?$"), task_api)
        await page.goto(f"{gw.url}/#/tasks/{task_id}")
        plan = page.locator("#t-timeline > li[data-phase=plan] .call[data-call='a.1'] .tokens")
        code = page.locator("#t-timeline > li[data-phase=implement] .call[data-call='b.1']")
        await expect(plan).to_have_text("Step one. Step two.")
        await expect(code.locator(".tokens")).to_have_text("def f(n):\n    return n + 1")
        await expect(code).not_to_have_class(re.compile(r"\blive\b"))
        await expect(page.locator("#outcome")).to_have_text("unverified")
        await expect(page.locator("#t-verdict")).to_have_text("revise (score 0.55)")
        await expect(page.locator("#t-rationale")).to_have_text("Judge: off by one")
        await expect(page.locator("#confidence")).to_have_text("0.41")
        await expect(page.locator("#t-calls tbody tr")).to_have_count(2)
        await expect(page.locator("#t-calls tbody tr").nth(1)).to_contain_text("2.4 s")
        await expect(page.locator("#t-in")).to_have_text("130")
        await expect(page.locator("#t-vsummary")).to_contain_text("1 of 2 tests failed")
        await expect(page.locator("#t-tests tbody tr")).to_have_count(2)
        await expect(page.locator("#t-tests tbody tr").nth(1)).to_contain_text("assert 5 == 6")
        checks = page.locator("#t-checks tbody tr")
        await expect(checks).to_have_count(2)
        await expect(checks.first).to_contain_text("42 equals 6*7")
        await expect(page.locator("#t-checks tr[data-checker=json_schema]")).to_contain_text(
            "failed"
        )
        href = f"http://localhost:8233/namespaces/default/workflows/{task_id}"
        await expect(page.locator("#t-temporal")).to_have_attribute("href", href)
        await expect(page.locator("#t-cancel")).to_be_hidden()
        await shot(page, tmp_path, "console-task-checks.png")


# A task whose every call streams slowly: its tokens reach the page while it runs.
LIVE_ANSWER = "Tokens arrive on the page while the model is still writing this sentence."
LIVE_RULES = [
    {"role": "planner", "text": "1. Read the question. 2. Answer it."},
    {"phase": "implement", "text": LIVE_ANSWER},
    {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "fine"}'},
]


@pytest.fixture
async def live_gw(env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Gw]:
    with tempfile.TemporaryDirectory() as tmp:
        script = write_script(Path(tmp) / "live.jsonl", LIVE_RULES)
        provider = replay_provider(script, simulated_latency_ms=2500)
        policy = {"stream": True, "live_tokens_ms": 100}
        settings = make_settings(Path(tmp), [provider], policy=policy, api=UNLIMITED)
        async with running_workers(env.client, settings):
            app = create_app(settings, client=env.client, database_url=database_url)
            async with serve(app) as url:
                yield Gw(url, settings, database_url)


async def test_a_running_task_shows_its_tokens_live(live_gw: Gw, tmp_path: Path) -> None:
    key = await live_gw.key(f"live-{uuid.uuid4().hex[:8]}")
    async with console(live_gw.url, key) as page:
        await page.fill("#prompt", "Say something, slowly.")
        await page.click("#generate")
        await expect(page).to_have_url(re.compile(r"#/tasks/task-"))
        tokens = page.locator("#t-timeline > li[data-phase=implement] .call .tokens")
        await expect(tokens.first).to_have_text(re.compile(r"\S"), timeout=30_000)
        await shot(page, tmp_path, "console-task-live.png")  # while the answer is written
        await expect(tokens.first).to_have_text(LIVE_ANSWER, timeout=30_000)
        await expect(page.locator("#answer")).to_have_text(LIVE_ANSWER, timeout=30_000)
        await expect(page.locator("#t-calls tbody tr")).to_have_count(3)
        await shot(page, tmp_path, "console-task-live-done.png")
