"""Hostile input at the live gateway: non-finite numbers, lone surrogates, NUL and other
control characters, blank prompts, deep nesting, wrong types. Every answer is below 500;
bad input is a 4xx whose ``detail`` names the field; nothing it starts is left running.

Bodies are written by hand (``json.dumps`` escapes surrogates and writes ``NaN``), as an
attacker would send them: httpx's own encoder refuses both.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from api import service, telemetry
from api.routers import approvals, blobs, engines, openai_compat, research, slack, tasks, web
from api.service import ApiError
from api.slack import verify
from api.validation import MAX_DEPTH, JsonRoute
from naestro import names, search
from naestro.contracts import ApprovalDecision, Budget, TaskRequest
from naestro.contracts.research import ResearchRequest, SteerCommand
from naestro.contracts.text import prompt_problem
from tests.api.conftest import SLACK_SECRET, Gw
from tests.api.helpers import finished, until

JSON = {"Content-Type": "application/json"}
CHAT = "/v1/chat/completions"
# Examples per property: the file runs in about a minute on two cores.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\x07", "\x1b", "\x0b", "\x7f", "\u2028", "\ufeff", " ", "\t"]
)
# Any code point, surrogates included, with hostile ones often.
PROMPTS = st.text(st.one_of(HOSTILE, st.characters(exclude_categories=())), max_size=40)
NUMBERS = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "-0.0", "1e-400"]),
    st.sampled_from([str(2**64), str(-(2**63)), "0", "2.5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(json.dumps),
)
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


def raw(body: Any) -> bytes:
    """JSON as Python writes it: surrogates escaped, NaN and Infinity as bare words."""
    return json.dumps(body).encode()


def names_field(reply: httpx.Response, *loc: str | int) -> bool:
    detail = reply.json()["detail"]
    return isinstance(detail, list) and any(e["loc"] == ["body", *loc] for e in detail)


@pytest.fixture
async def tenant(gw: Gw, client: Client) -> AsyncIterator[str]:
    """A tenant of its own; afterwards none of its workflows is left running (an input
    that fails validation inside a workflow must fail it, not retry it forever)."""
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    yield name
    query = f"NaestroTenant = '{name}' AND ExecutionStatus = 'Running'"

    async def settled() -> bool:
        return (await client.count_workflows(query)).count == 0

    try:
        await until(settled, within=60.0)
    finally:
        async for stuck in client.list_workflows(query):
            await client.get_workflow_handle(stuck.id).terminate("hostile-input test cleanup")
    failed = f"NaestroTenant = '{name}' AND ExecutionStatus = 'Failed'"
    async for run in client.list_workflows(failed):
        assert run.status == WorkflowExecutionStatus.FAILED  # failed fast, listed, done


@pytest.fixture
async def http(gw: Gw, tenant: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gw.http(await gw.key(tenant)) as client:
        yield client


async def test_non_finite_numbers_are_422_naming_the_field(http: httpx.AsyncClient) -> None:
    replies = {}
    for token in ("NaN", "Infinity", "-Infinity", "1e309"):
        body = f'{{"prompt": "budget {token}", "budget": {{"max_usd": {token}}}}}'
        replies[token] = await http.post("/v1/tasks", content=body, headers=JSON)
    chat = '{"model": "naestro-task", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}'  # noqa: E501
    replies["chat"] = await http.post(CHAT, content=chat, headers=JSON)
    research = '{"goal": "g", "budget": {"max_usd": Infinity}}'
    replies["research"] = await http.post("/v1/research", content=research, headers=JSON)
    for name, reply in replies.items():
        assert reply.status_code == 422, (name, reply.text)
        assert "finite number" in reply.json()["error"]["message"]
    assert all(names_field(replies[t], "budget", "max_usd") for t in ("NaN", "1e309"))
    assert names_field(replies["chat"], "temperature")
    assert names_field(replies["research"], "budget", "max_usd")


def test_contracts_refuse_non_finite_numbers_and_bad_prompts() -> None:
    """The workflow's input models hold the same rules as the API (a start that skips the
    API cannot put NaN into a budget or NUL into a prompt)."""
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="finite number"):
            Budget(max_usd=bad)
        with pytest.raises(ValidationError, match="finite number"):
            SteerCommand(action="budget", max_usd=bad)
    for prompt in ("", " \n\t", "a\x00b", "a\ud800", "bell\x07"):
        with pytest.raises(ValidationError, match="prompt"):
            TaskRequest(prompt=prompt)
        with pytest.raises(ValidationError, match="goal"):
            ResearchRequest(goal=prompt)
    with pytest.raises(ValidationError, match="questions"):
        ResearchRequest(goal="g", questions=["why\x00"])
    assert TaskRequest(prompt="tabs\tand\r\nnewlines are fine").prompt


def test_prompt_problem_says_what_is_wrong() -> None:
    assert prompt_problem("What is 6 x 7?\n\tThanks.\r\n") is None
    assert prompt_problem("   ") == "must hold some text: it is empty or only whitespace"
    assert prompt_problem("ab\x00") == "must not hold a NUL character (U+0000, at index 2)"
    assert "lone surrogate (U+DC00) at index 1" in str(prompt_problem("a\udc00"))
    assert "(U+001B at index 0)" in str(prompt_problem("\x1b[31mred"))


async def test_bad_prompts_are_422_naming_the_field(http: httpx.AsyncClient) -> None:
    prompts = ["\ud800", "hello \x00 world", "   \n\t ", "ring \x07", ""]
    for prompt in prompts:
        task = await http.post("/v1/tasks", content=raw({"prompt": prompt}), headers=JSON)
        goal = await http.post("/v1/research", content=raw({"goal": prompt}), headers=JSON)
        assert task.status_code == 422 and names_field(task, "prompt"), (prompt, task.text)
        assert goal.status_code == 422 and names_field(goal, "goal"), (prompt, goal.text)
        assert task.json()["error"]["message"].startswith("body.prompt: ")


async def test_chat_without_text_is_422_naming_the_messages(http: httpx.AsyncClient) -> None:
    contents: list[Any] = ["", "   ", None, [{"type": "text", "text": " \n"}], [], "x\x00y"]
    for content in contents:
        messages = [{"role": "system", "content": " "}, {"role": "user", "content": content}]
        body = {"model": "naestro-task", "messages": messages}
        reply = await http.post(CHAT, content=raw(body), headers=JSON)
        assert reply.status_code == 422 and names_field(reply, "messages"), reply.text


async def test_deep_nesting_is_422_not_a_crash(http: httpx.AsyncClient) -> None:
    for depth in (MAX_DEPTH + 1, 1_000, 10_000, 100_000):
        body = '{"prompt": "deep", "verify": {"json_schema": {"x": ' + "[" * depth
        body += "]" * depth + "}}}"
        reply = await http.post("/v1/tasks", content=body, headers=JSON)
        assert reply.status_code == 422, (depth, reply.text)
        assert "nested deeper" in reply.json()["error"]["message"]


async def test_json_without_a_content_type_is_a_clear_4xx(http: httpx.AsyncClient) -> None:
    reply = await http.post("/v1/tasks", content=b'{"prompt": "no header"}')
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["body"]


async def test_slack_overflowing_timestamp_is_401(gw: Gw) -> None:
    async with gw.http() as slack:
        # "\xb2" (superscript two, as latin-1) is a digit to str.isdigit, not to int()
        for stamp in (b"9" * 400, b"9" * 5_000, b"1e400", b"\xb2"):
            headers = {b"X-Slack-Request-Timestamp": stamp, b"X-Slack-Signature": b"v0=00"}
            reply = await slack.post("/slack/interactions", content=b"payload=x", headers=headers)
            assert reply.status_code == 401, (stamp[:10], reply.text)
    with pytest.raises(ApiError) as refused:
        verify(SLACK_SECRET, "9" * 400, "v0=00", b"", time.time(), 300)
    assert refused.value.status == 401


def test_every_route_reads_its_body_strictly() -> None:
    routers = (tasks, blobs, approvals, research, engines, openai_compat, slack, web, telemetry)
    routes = [r for m in routers for r in m.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 20
    assert [r.path for r in routes if not isinstance(r, JsonRoute)] == []


async def test_a_task_that_ends_before_its_signal_or_update_is_409(
    gw: Gw, client: Client, tenant: str
) -> None:
    """Stateful fuzzing found it: a scripted task ends within a second, between the
    status check and the approval update (or cancel signal). Now 409, not 500: the
    update and the signal reach a task that has ended since it was found running."""
    async with gw.http(await gw.key(tenant)) as http:
        started = await http.post("/v1/tasks", json={"prompt": "ends at once"})
        task_id = started.json()["task_id"]
        await finished(http, task_id)

    gateway: Any = SimpleNamespace(handle=client.get_workflow_handle)
    decision = ApprovalDecision(stage="plan", content_hash="0" * 64, action="reject", approver="u")
    with pytest.raises(ApiError) as approval:
        await service.send_decision(gateway, task_id, decision)
    with pytest.raises(ApiError) as cancel:
        await service.send_cancel(gateway, task_id, "too late")
    assert approval.value.status == 409 and "just ended" in approval.value.detail
    assert cancel.value.status == 409 and "just ended" in cancel.value.detail


async def test_a_workflow_whose_input_fails_validation_fails_at_once(
    gw: Gw, client: Client, tenant: str
) -> None:
    """Started around the API (an old client, a hand-written payload): the worker cannot
    read the input, and the run fails instead of retrying its workflow task forever."""
    bad = [
        {"prompt": "nul \x00 inside", "tenant": tenant},
        {"prompt": "x", "tenant": tenant, "budget": {"max_usd": None}},  # what NaN became
    ]
    for payload in bad:
        handle = await client.start_workflow(
            names.TASK_WORKFLOW,
            payload,
            id=f"task-hostile-{uuid.uuid4().hex[:12]}",
            task_queue=gw.settings.queues.orchestrator,
            search_attributes=search.initial("general", tenant, 3),
        )
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=30)


def _expect(reply: httpx.Response, bad: bool, *loc: str) -> None:
    assert reply.status_code < 500, reply.text
    if bad:
        assert reply.status_code == 422 and names_field(reply, *loc), reply.text
    else:
        assert reply.status_code in (200, 202, 413, 429), reply.text


@FUZZ
@given(prompt=PROMPTS)
async def test_fuzzed_task_prompts(http: httpx.AsyncClient, prompt: str) -> None:
    reply = await http.post("/v1/tasks", content=raw({"prompt": prompt}), headers=JSON)
    _expect(reply, prompt_problem(prompt) is not None, "prompt")


@FUZZ
@given(usd=NUMBERS, tokens=NUMBERS)
async def test_fuzzed_budget_numbers(http: httpx.AsyncClient, usd: str, tokens: str) -> None:
    body = f'{{"prompt": "fuzzed budget", "budget": {{"max_usd": {usd}, "max_tokens": {tokens}}}}}'
    reply = await http.post("/v1/tasks", content=body, headers=JSON)
    assert reply.status_code < 500, reply.text
    if reply.status_code == 422:
        assert all(e["loc"][:2] == ["body", "budget"] for e in reply.json()["detail"])


@FUZZ
@given(text=PROMPTS, extra=st.one_of(WRONG, NUMBERS), stream=st.booleans())
async def test_fuzzed_chat_and_research(
    http: httpx.AsyncClient, text: str, extra: Any, stream: bool
) -> None:
    number = extra if isinstance(extra, str) else json.dumps(extra)
    messages = raw([{"role": "user", "content": text}]).decode()
    chat = (
        f'{{"model": "naestro-task", "stream": {json.dumps(stream)}, "top_p": {number}, '
        f'"messages": {messages}}}'
    )
    goal = f'{{"goal": {raw(text).decode()}, "questions": {number}}}'
    for path, body in ((CHAT, chat), ("/v1/research", goal)):
        reply = await http.post(path, content=body, headers=JSON)
        assert reply.status_code < 500, reply.text
        if 400 <= reply.status_code < 500 and reply.status_code != 429:
            detail = reply.json()["detail"]
            assert detail and (isinstance(detail, str) or detail[0]["loc"][0] == "body")


@FUZZ
@given(
    field=st.sampled_from(["prompt", "kind", "policy", "priority", "budget", "verify"]),
    value=WRONG,
)
async def test_fuzzed_wrong_types(http: httpx.AsyncClient, field: str, value: Any) -> None:
    reply = await http.post(
        "/v1/tasks", content=raw({"prompt": "wrong types", field: value}), headers=JSON
    )
    assert reply.status_code < 500, reply.text
    if reply.status_code == 422:
        assert reply.json()["detail"][0]["loc"][:2] == ["body", field], reply.text
