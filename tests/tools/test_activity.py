"""ToolActivities against real MCP servers (tests/tools/mcp_server.py): over stdio (a
process per call, its credential from a named environment variable) and over streamable
HTTP behind a bearer token; discovery cached per worker; a call past its timeout or
cancelled leaves no process behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tools.activity import ToolActivities
from activities.tools.mcp import McpServers
from naestro.config.tools import ToolsConfig
from naestro.contracts import McpCall, ToolListRequest, ToolSpec
from tests.tools.conftest import BEARER, BEARER_ENV, TOKEN, http_server, served, stdio_server
from tests.tools.mcp_server import digest, records


class CountingServers(McpServers):
    """The real client, counting the listings that reach a server."""

    listed = 0

    async def list(self, server: str) -> list[ToolSpec]:
        self.listed += 1
        return await super().list(server)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_stdio_tools_are_listed_once_and_called_with_the_named_credential(
    tmp_path: Path, secrets: None
) -> None:
    record = tmp_path / "calls.jsonl"
    config = ToolsConfig.model_validate({"servers": {"echo": stdio_server(record)}})
    servers = CountingServers(config)
    tools = ToolActivities(config, servers)
    env = ActivityEnvironment()

    first = await env.run(tools.list_tools, ToolListRequest(servers=["echo"]))
    again = await env.run(tools.list_tools, ToolListRequest(servers=["echo"]))
    result = await env.run(
        tools.call, McpCall(server="echo", tool="shout", arguments={"text": "hi"})
    )
    await tools.aclose()

    assert {t.name for t in first.tools} == {"echo__shout", "echo__forbidden", "echo__slow"}
    shout = next(t for t in first.tools if t.tool == "shout")
    assert (shout.server, shout.description) == ("echo", "Upper-case a text.")
    assert shout.parameters["required"] == ["text"]
    assert again == first and servers.listed == 1  # the worker's cache answered
    assert result.text.startswith("HI") and not result.is_error
    [call] = [r for r in records(record) if r["tool"] == "shout"]
    assert call["credential"] == digest(TOKEN)  # the server got the secret, by name only
    assert not alive(call["pid"])  # and is gone after its call


async def test_results_are_capped_and_a_tool_error_is_a_result(
    tmp_path: Path, secrets: None
) -> None:
    config = ToolsConfig.model_validate({"servers": {"echo": stdio_server(tmp_path / "r")}})
    tools = ToolActivities(config)
    env = ActivityEnvironment()
    long = McpCall(
        server="echo", tool="shout", arguments={"text": "a" * 5000}, max_result_chars=200
    )
    bad = McpCall(server="echo", tool="shout", arguments={"wrong": 1})
    capped = await env.run(tools.call, long)
    failed = await env.run(tools.call, bad)
    await tools.aclose()

    assert capped.truncated and len(capped.text) <= 200 and capped.chars > 5000
    assert failed.is_error and "text" in failed.text


async def test_a_call_past_its_timeout_leaves_no_process(tmp_path: Path, secrets: None) -> None:
    record = tmp_path / "calls.jsonl"
    config = ToolsConfig.model_validate({"servers": {"echo": stdio_server(record)}})
    tools = ToolActivities(config)
    slow = McpCall(server="echo", tool="slow", arguments={"seconds": 60}, timeout_seconds=6)
    result = await ActivityEnvironment().run(tools.call, slow)

    assert result.is_error and result.text == "timed out after 6 s"
    [call] = records(record)
    assert not alive(call["pid"])


async def test_a_cancelled_call_leaves_no_process(tmp_path: Path, secrets: None) -> None:
    record = tmp_path / "calls.jsonl"
    config = ToolsConfig.model_validate({"servers": {"echo": stdio_server(record)}})
    tools = ToolActivities(config)
    env = ActivityEnvironment()
    slow = McpCall(server="echo", tool="slow", arguments={"seconds": 60}, timeout_seconds=60)
    running = asyncio.create_task(env.run(tools.call, slow))
    for _ in range(600):  # until the server has the call (it records it first)
        if records(record):
            break
        await asyncio.sleep(0.05)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    [call] = records(record)
    assert not alive(call["pid"])


async def test_http_server_gets_the_bearer_from_the_environment(
    tmp_path: Path, secrets: None
) -> None:
    record, seen = tmp_path / "calls.jsonl", list[str]()
    async with served(record, seen) as url:
        config = ToolsConfig.model_validate({"servers": {"web": http_server(url)}})
        tools = ToolActivities(config)
        env = ActivityEnvironment()
        listed = await env.run(tools.list_tools, ToolListRequest(servers=["web"]))
        result = await env.run(
            tools.call, McpCall(server="web", tool="shout", arguments={"text": "x"})
        )
        await tools.aclose()

    assert "web__shout" in {t.name for t in listed.tools}
    assert result.text.startswith("X")
    assert seen and set(seen) == {f"Bearer {BEARER}"}
    assert [r["tool"] for r in records(record)] == ["shout"]


async def test_a_wrong_bearer_or_an_unknown_server_fails_the_call(
    tmp_path: Path, secrets: None
) -> None:
    os.environ[BEARER_ENV] = "wrong"
    record, seen = tmp_path / "calls.jsonl", list[str]()
    async with served(record, seen) as url:
        config = ToolsConfig.model_validate({"servers": {"web": http_server(url)}})
        tools = ToolActivities(config)
        env = ActivityEnvironment()
        listed = await env.run(tools.list_tools, ToolListRequest(servers=["web", "nowhere"]))
        with pytest.raises(ApplicationError) as refused:
            await env.run(tools.call, McpCall(server="web", tool="shout", arguments={"text": "x"}))
        with pytest.raises(ApplicationError) as unknown:
            await env.run(tools.call, McpCall(server="nowhere", tool="x"))
        await tools.aclose()

    assert listed.tools == [] and set(listed.errors) == {"web", "nowhere"}
    assert refused.value.type == "ToolServerError" and not refused.value.non_retryable
    assert "wrong" not in str(refused.value)
    assert unknown.value.type == "ConfigError" and unknown.value.non_retryable
    assert records(record) == []
