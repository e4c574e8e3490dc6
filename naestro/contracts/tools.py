"""Tool use: what a model is offered, what it calls, what comes back, and the activities'
payloads. A tool is named ``<server>.<tool>`` in allow-lists and ``<server>__<tool>`` on the
wire (provider function names must match ``^[a-zA-Z0-9_-]{1,64}$``).

No secret travels here: an MCP call carries the server's *name*, the tool and its arguments;
the worker resolves the server's command, URL and credentials from its own environment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from naestro.contracts.base import Frozen, Location

WIRE_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
ToolOutcome = Literal["ok", "error", "refused"]
ToolChoice = Literal["auto", "none"]


def _no_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


class ToolSpec(Frozen):
    """A tool as offered to a model: its wire name, what it does, its arguments' JSON schema."""

    name: str = Field(pattern=WIRE_NAME)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=_no_parameters)
    server: str = ""  # the allow-list's names: server.tool
    tool: str = ""


class ToolCall(Frozen):
    """One call a model asked for (its provider's id for the call, the wire name)."""

    id: str
    name: str
    arguments: dict[str, Any] = {}


class ToolResult(Frozen):
    """What a call gave back, as the model sees it (fenced, capped), and how it went."""

    call_id: str
    name: str
    content: str
    outcome: ToolOutcome = "ok"
    truncated: bool = False
    chars: int = 0  # the result's size before the cap
    duration_ms: float = 0.0


class McpCall(Frozen):
    """``naestro.tools.call``'s input: a server's name, one of its tools, the arguments."""

    server: str
    tool: str
    arguments: dict[str, Any] = {}
    max_result_chars: int = Field(default=16_000, ge=100)
    timeout_seconds: float = Field(default=60.0, gt=0)


class McpResult(Frozen):
    """``naestro.tools.call``'s result: the tool's text (capped), and whether the tool
    reported an error (a tool's error is a result the model reads, not a failed activity)."""

    text: str
    is_error: bool = False
    truncated: bool = False
    chars: int = 0


class ToolListRequest(Frozen):
    servers: list[str]


class ToolCatalog(Frozen):
    """The tools each server lists (``naestro.tools.list``); a server that could not be
    reached is named in ``errors`` instead, and the task goes on without its tools."""

    tools: list[ToolSpec] = []
    errors: dict[str, str] = {}


class ToolsPolicy(Frozen):
    """A task's tools, resolved once with its policy and tenant (activities/routing)."""

    allow: list[str]  # the policy's allow-list: server.tool, server.* or a built-in
    tenant_allow: list[str] | None = None  # the tenant's, when tools.tenants names it
    task_queue: str = "naestro.tools"
    locations: dict[str, Location] = {}  # MCP server -> where it runs (PII policy)
    max_calls_per_task: int = 16
    max_calls_per_phase: int = 8
    call_timeout_seconds: float = 60.0
    max_result_chars: int = 16_000
    memory_task_queue: str | None = None  # memory.search needs memory on
