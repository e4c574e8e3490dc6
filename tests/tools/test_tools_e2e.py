"""Tool use end to end: a task on a real Temporal dev server whose model (a loopback server
speaking OpenAI's wire protocol, engine "vllm", streaming) calls tools natively. The MCP
servers are real: tests/tools/mcp_server.py over stdio (started per call by the tools
worker, its credential from a named environment variable) and over streamable HTTP on a
loopback port behind a bearer token from another one."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle

from naestro import names
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskEvent, TaskRequest, TaskResult
from naestro.tools.results import EXHAUSTED_NOTE
from tests.providers.payloads import openai_stream, openai_tool_call_stream, openai_usage
from tests.providers.wire import Reply, WireServer
from tests.support import make_settings, running_workers
from tests.tools.conftest import BEARER, TOKEN, TOKEN_ENV, http_server, served, stdio_server
from tests.tools.mcp_server import digest, records
from tests.workflow.scripts import verdict

MODEL = "tool-model"
PATH = "/v1/chat/completions"
USAGE = openai_usage(40, 10)
EMAIL = "violet.q@example.com"


@pytest.fixture
def wire() -> Iterator[WireServer]:
    with WireServer() as server:
        server.serve_models(MODEL)
        yield server


def calls(*made: tuple[str, str, dict[str, Any]], text: str = "") -> Reply:
    return openai_tool_call_stream(list(made), model=MODEL, usage=USAGE, text=text)


def says(text: str) -> Reply:
    return openai_stream([text], model=MODEL, usage=USAGE)


def settings_for(
    tmp: Path, wire: WireServer, servers: dict[str, Any], allow: list[str], **more: Any
) -> Settings:
    engine = {"id": "loop", "engine": "vllm", "model": MODEL, "endpoint": f"{wire.url}/v1"}
    tools = {"servers": servers, **more.pop("tools", {})}
    policy = {"plan": False, "tools": allow}
    return make_settings(tmp, [engine], policy=policy, tools=tools, **more)


async def run(client: Client, settings: Settings, request: TaskRequest) -> Done:
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
        events = await handle.query(names.EVENTS_QUERY, 0, result_type=list[TaskEvent])
    return Done(result, [e.data for e in events if e.type == "tool_call"], handle)


class Done:
    def __init__(
        self, result: TaskResult, tools: list[dict[str, Any]], handle: WorkflowHandle[Any, Any]
    ) -> None:
        self.result, self.tools, self.handle = result, tools, handle


def sent(wire: WireServer) -> list[dict[str, Any]]:
    """The chat requests the model received, in order."""
    return [r.body for r in wire.requests if r.path == PATH]


def tool_messages(body: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


async def history_text(client: Client, handle: WorkflowHandle[Any, Any]) -> str:
    """The whole history as JSON, every payload decoded (the codec encrypts them)."""
    data = json.loads((await handle.fetch_history()).to_json())
    codec = client.data_converter.payload_codec
    assert codec is not None
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    for node in found:
        payload = Payload(
            metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
            data=base64.b64decode(node["data"]),
        )
        [plain] = await codec.decode([payload])
        node["decoded"] = plain.data.decode("utf-8", "replace")
    return json.dumps(data)


async def test_models_call_stdio_and_http_tools_natively_and_read_fenced_results(
    client: Client, wire: WireServer, tmp_path: Path, secrets: None
) -> None:
    record, seen = tmp_path / "calls.jsonl", list[str]()
    wire.script(
        PATH,
        calls(
            ("c1", "echo__shout", {"text": "hello"}),
            ("c2", "web__shout", {"text": "world"}),
            ("c3", "echo__forbidden", {}),  # no policy allows it: the model names it anyway
        ),
        says("HELLO WORLD is the answer."),
        says(verdict(0.9)),
    )
    async with served(record, seen) as url:
        servers = {"echo": stdio_server(record), "web": http_server(url)}
        settings = settings_for(tmp_path, wire, servers, ["echo.shout", "web.*"])
        done = await run(client, settings, TaskRequest(prompt="Shout hello and world."))
        history = await history_text(client, done.handle)

    assert done.result.status == "succeeded", done.result.reason
    assert done.result.answer == "HELLO WORLD is the answer."
    first, second, review = sent(wire)
    offered = {t["function"]["name"] for t in first["tools"]}
    assert offered == {"echo__shout", "web__shout", "web__forbidden", "web__slow"}
    assert first["tool_choice"] == "auto" and "tools" not in review
    results = tool_messages(second)
    for call_id, server, shout in (("c1", "echo", "HELLO"), ("c2", "web", "WORLD")):
        assert results[call_id].startswith(f'<<untrusted source="tool {server}.shout"')
        assert shout in results[call_id] and results[call_id].endswith(">>")
    assert results["c3"].startswith("Refused: the call to echo.forbidden did not run")
    assert [m["role"] for m in second["messages"][-4:]] == ["assistant", "tool", "tool", "tool"]

    ran = records(record)
    assert sorted(r["arguments"]["text"] for r in ran) == ["hello", "world"]
    assert all(r["tool"] == "shout" for r in ran)  # the forbidden tool never ran
    stdio = next(r for r in ran if r["arguments"]["text"] == "hello")
    assert stdio["credential"] == digest(TOKEN)
    assert seen and set(seen) == {f"Bearer {BEARER}"}

    by_name = {e["name"]: e for e in done.tools}
    assert by_name["echo.forbidden"]["allowed"] is False
    assert by_name["echo.forbidden"]["outcome"] == "refused"
    for name in ("echo.shout", "web.shout"):
        assert by_name[name]["outcome"] == "ok" and by_name[name]["result_chars"] > 0
        assert by_name[name]["duration_ms"] >= 0 and by_name[name]["phase"] == "implement"

    assert "naestro.tools.call" in history and "HELLO" in history  # decoded, it is readable
    for secret in (TOKEN, BEARER, TOKEN_ENV + "=", "Bearer "):
        assert secret not in history


async def test_the_per_task_bound_stops_a_model_that_keeps_calling(
    client: Client, wire: WireServer, tmp_path: Path, secrets: None
) -> None:
    record = tmp_path / "calls.jsonl"
    wire.script(
        PATH,
        calls(("a", "echo__shout", {"text": "one"})),
        calls(("b", "echo__shout", {"text": "two"}), ("c", "echo__shout", {"text": "three"})),
        calls(("d", "echo__shout", {"text": "four"}), text="Still calling."),  # told not to
        says(verdict(0.9)),
    )
    bound = {"max_calls_per_task": 2}
    settings = settings_for(tmp_path, wire, {"echo": stdio_server(record)}, ["echo.*"], tools=bound)
    done = await run(client, settings, TaskRequest(prompt="Keep shouting."))

    assert done.result.status == "succeeded", done.result.reason
    assert done.result.answer == "Still calling."
    assert [r["arguments"]["text"] for r in records(record)] == ["one", "two"]
    third = sent(wire)[2]
    assert third["tool_choice"] == "none"
    assert third["messages"][-1] == {"role": "user", "content": EXHAUSTED_NOTE}
    assert "budget is spent" in tool_messages(third)["c"]
    assert [(e["name"], e["outcome"]) for e in done.tools] == [
        ("echo.shout", "ok"),
        ("echo.shout", "ok"),
        ("echo.shout", "refused"),
    ]


async def test_arguments_with_pii_are_redacted_or_refused_by_the_tenants_policy(
    client: Client, wire: WireServer, tmp_path: Path, secrets: None
) -> None:
    record, seen = tmp_path / "calls.jsonl", list[str]()
    text = {"text": f"write to {EMAIL}"}
    wire.script(
        PATH,
        calls(("local", "echo__shout", text), ("cloud", "web__shout", text)),
        says("Done."),
        says(verdict(0.9)),
    )
    pii = {"tenants": {"acme": {"cloud": "block", "local": "redact"}}}
    async with served(record, seen) as url:
        servers = {"echo": stdio_server(record), "web": http_server(url)}  # web: cloud
        settings = settings_for(tmp_path, wire, servers, ["echo.shout", "web.shout"], pii=pii)
        done = await run(client, settings, TaskRequest(prompt="Write a note.", tenant="acme"))

    assert done.result.status == "succeeded", done.result.reason
    [ran] = records(record)  # the cloud server got nothing
    assert ran["arguments"]["text"] == "write to <EMAIL_1>"
    results = tool_messages(sent(wire)[1])
    assert "<EMAIL_1>" in results["local"]
    assert results["cloud"].startswith("Refused") and "blocks sending EMAIL" in results["cloud"]
    local, cloud = done.tools
    assert (local["outcome"], local["pii"]) == ("ok", ["EMAIL"])
    assert (cloud["outcome"], cloud["allowed"]) == ("refused", False)
    assert "cloud tool server web" in cloud["reason"]
    for event in done.tools:
        assert EMAIL not in event["arguments"] and "EMAIL" in event["arguments"]


async def test_the_sandbox_built_in_runs_the_models_script(
    client: Client, wire: WireServer, tmp_path: Path
) -> None:
    script = "print(6 * 7)"
    wire.script(
        PATH,
        calls(("py", "sandbox__run_python", {"code": script})),
        says("It is 42."),
        says(verdict(0.9)),
    )
    settings = settings_for(tmp_path, wire, {}, ["sandbox.run_python"])
    done = await run(client, settings, TaskRequest(prompt="What is six times seven?"))

    assert done.result.status == "succeeded", done.result.reason
    first, second, _ = sent(wire)
    assert [t["function"]["name"] for t in first["tools"]] == ["sandbox__run_python"]
    result = tool_messages(second)["py"]
    assert result.startswith('<<untrusted source="tool sandbox.run_python"')
    assert "exit code 0" in result and "\n42\n" in result
    [event] = done.tools
    assert (event["name"], event["outcome"]) == ("sandbox.run_python", "ok")


async def test_pii_in_a_tools_result_reaches_later_calls_as_the_tenants_policy_says(
    client: Client, wire: WireServer, tmp_path: Path
) -> None:
    # The script puts the address together, so the call's arguments hold none: only the
    # result does, and the model (local, the tenant redacting PII for local providers too)
    # must read a placeholder for it; its reply's placeholder is restored in the answer.
    script = f"print({EMAIL.split('@')[0]!r} + '@' + {EMAIL.split('@')[1]!r})"
    wire.script(
        PATH,
        calls(("py", "sandbox__run_python", {"code": script})),
        says("Write to <EMAIL_1>."),
        says(verdict(0.9)),
    )
    pii = {"tenants": {"acme": {"cloud": "block", "local": "redact"}}}
    settings = settings_for(tmp_path, wire, {}, ["sandbox.run_python"], pii=pii)
    request = TaskRequest(prompt="Whom should I write to?", tenant="acme")
    done = await run(client, settings, request)

    assert done.result.status == "succeeded", done.result.reason
    _, second, judged = sent(wire)
    result = tool_messages(second)["py"]
    assert "\n<EMAIL_1>\n" in result and EMAIL not in json.dumps(second)
    assert EMAIL not in json.dumps(judged)  # the judge reads the answer with the placeholder
    assert done.result.answer == f"Write to {EMAIL}."
    [event] = done.tools
    assert (event["outcome"], event["pii"], event["result_pii"]) == ("ok", [], ["EMAIL"])
