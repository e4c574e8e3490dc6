"""A task's tool use (docs/tools.md): the loop in which a model calls tools through its
provider's native function calling, each call an activity.

For each call the model asks for: within the bounds (so many per task, per step) -> on the
policy's and the tenant's allow-list -> its arguments scanned for PII (a local activity)
under the tenant's policy for the tool server's location (naestro/pii/exposure.py: block
refuses, redact sends placeholders) -> the activity (an MCP server's tool on the tools
queue, ``sandbox.run_python`` on the sandbox queue, ``memory.search`` on the memory queue)
-> its result capped and fenced as untrusted data, back to the model. A refused call runs
nothing and the model reads why. Every call is a ``tool_call`` progress event. When the
bounds are spent the model is told so and asked to answer without tools.

Workflow code: deterministic; the model calls themselves go through the one call path
(workflows/steps/calls.py), which hands this loop its ``ask``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError

from activities.memory.activity import MemoryActivities
from activities.pii import PiiActivities
from activities.sandbox.activity import SandboxActivities
from activities.tools.activity import ToolActivities
from naestro.contracts import (
    ChatMessage,
    McpCall,
    McpResult,
    ModelResponse,
    PiiScanRequest,
    PiiScanResult,
    ToolCall,
    ToolChoice,
    ToolListRequest,
    ToolOutcome,
    ToolResult,
    ToolSpec,
    ToolsPolicy,
)
from naestro.contracts.memory import SearchResult
from naestro.contracts.pii import PiiStage
from naestro.errors import PiiPolicyBlocked
from naestro.pii import exposure
from naestro.presets import LOCAL_FAST, TOOL_CALL, TOOL_LIST
from naestro.tools import builtins, names, results
from naestro.tools.budget import TASK_SPENT, ToolBudget
from workflows.steps.calls import CallCancelled

# Tasks started before it offered their models no tools.
TOOLS = "naestro.tools"
# Tasks started before it passed a tool's result to the next model call unscanned.
RESULT_PII = "naestro.tools.result-pii"
TOOL_PHASES = ("implement", "refine")  # the steps whose calls may use tools
PREVIEW_CHARS = 300
QUEUE_WAIT = timedelta(minutes=2)  # for a worker to pick a call up, beyond its own timeout

Ask = Callable[[list[ChatMessage], list[ToolSpec], ToolChoice], Awaitable[ModelResponse]]
# Scans text joining the conversation; adds its PII to the task's (ModelCaller.scan_joining).
Learn = Callable[[str, PiiStage], Awaitable[list[str]]]


@dataclass
class _Outcome:
    text: str
    outcome: ToolOutcome = "ok"
    reason: str = ""
    truncated: bool = False
    chars: int = 0
    pii: list[str] = field(default_factory=list)
    shown: str = ""  # the arguments as the event may show them
    result_pii: list[str] = field(default_factory=list)  # the types found in the result


@dataclass
class ToolBelt:
    """One task's tools: what its models are offered, the calls' bounds, and the calls."""

    policy: ToolsPolicy
    tenant: str
    sandbox_queue: str
    priority: int
    emit: Callable[[dict[str, Any]], None]  # a tool_call progress event
    cancelled: Callable[[], str | None] = lambda: None
    budget: ToolBudget = field(init=False)
    _catalog: dict[str, ToolSpec] | None = None  # every tool found, by wire name
    _offered: list[ToolSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.budget = ToolBudget(self.policy.max_calls_per_task, self.policy.max_calls_per_phase)

    async def converse(
        self, phase: str, messages: list[ChatMessage], ask: Ask, learn: Learn
    ) -> ModelResponse:
        """The model's answer after the tool calls it made on the way (each a turn); each
        result that ran is scanned by ``learn`` before the model reads it."""
        tools = await self._offer()
        if not tools or self.budget.why_not() == TASK_SPENT:  # earlier steps spent them
            return await ask(messages, [], "auto")
        self.budget.new_phase()
        history = list(messages)
        while True:
            spent = self.budget.why_not() is not None
            reply = await ask(history, tools, "none" if spent else "auto")
            if not reply.tool_calls or spent:  # calls after the last allowed turn: dropped
                return reply.model_copy(update={"tool_calls": []})
            history.append(
                ChatMessage(role="assistant", content=reply.text, tool_calls=reply.tool_calls)
            )
            for call in reply.tool_calls:
                result = await self.call(phase, call, learn)
                history.append(
                    ChatMessage(role="tool", content=result.content, tool_call_id=call.id)
                )
            if self.budget.why_not() is not None:
                history.append(ChatMessage(role="user", content=results.EXHAUSTED_NOTE))

    async def call(self, phase: str, call: ToolCall, learn: Learn) -> ToolResult:
        """One call the model asked for: refused, or run, its result scanned for PII by
        ``learn``; reported as a progress event."""
        started = workflow.now()
        spec = (self._catalog or {}).get(call.name)
        server, tool = (spec.server, spec.tool) if spec else names.split(call.name)
        done = await self._checked(spec, server, tool, call)
        if done.outcome != "refused" and workflow.patched(RESULT_PII):
            done.result_pii = await learn(done.text, "tool_result")
        ms = (workflow.now() - started).total_seconds() * 1000
        self.emit(
            {
                "name": f"{server}.{tool}",
                "phase": phase,
                "allowed": done.outcome != "refused",
                "outcome": done.outcome,
                "reason": done.reason,
                "duration_ms": ms,
                "result_chars": done.chars,
                "truncated": done.truncated,
                "pii": done.pii,
                "result_pii": done.result_pii,
                "arguments": done.shown,
            }
        )
        return ToolResult(
            call_id=call.id,
            name=call.name,
            content=done.text,
            outcome=done.outcome,
            truncated=done.truncated,
            chars=done.chars,
            duration_ms=ms,
        )

    # ------------------------------------------------------------ checks, then the call

    async def _checked(
        self, spec: ToolSpec | None, server: str, tool: str, call: ToolCall
    ) -> _Outcome:
        why = self.budget.take()
        if why is None and (spec is None or not names.allowed(self.policy, server, tool)):
            why = "it is not among the tools this task may use"
        if why is not None:
            return _Outcome(results.refused(server, tool, why), "refused", why)
        scan = await self._scan(call.arguments)
        kinds = sorted({f.entity_type for f in scan.findings})
        # The event never shows the arguments' PII: placeholders (or [TYPE]) stand for it.
        shown = _preview(exposure.for_notification(_json(call.arguments), scan))
        location = self.policy.locations.get(server, "local")  # built-ins run here
        try:
            arguments = exposure.for_tool(scan, location, server, self.tenant, call.arguments)
        except PiiPolicyBlocked as blocked:
            text = results.refused(server, tool, str(blocked))
            return _Outcome(text, "refused", str(blocked), pii=kinds, shown=shown)
        done = await self._run(server, tool, arguments, scan)
        done.pii, done.shown = kinds, shown
        return done

    async def _scan(self, arguments: dict[str, Any]) -> PiiScanResult:
        if not arguments:
            return PiiScanResult(redacted="")
        scan: PiiScanResult = await workflow.execute_local_activity_method(
            PiiActivities.scan,
            PiiScanRequest(text=_json(arguments), tenant=self.tenant, stage="tool_arguments"),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary="PII scan of a tool call's arguments",
        )
        return scan

    async def _run(
        self, server: str, tool: str, arguments: dict[str, Any], scan: PiiScanResult
    ) -> _Outcome:
        try:
            if (server, tool) == builtins.RUN_PYTHON:
                return await self._run_python(arguments)
            if (server, tool) == builtins.MEMORY_SEARCH:
                return await self._search(arguments, scan)
            return await self._mcp(server, tool, arguments)
        except ValueError as bad:  # arguments a built-in cannot use
            return _Outcome(results.failed(server, tool, str(bad)), "error", str(bad))
        except ActivityError as err:
            why = str(err.cause or err)
            text = results.failed(server, tool, "see below") + "\n" + _fenced(server, tool, why)
            return _Outcome(text, "error", why[:PREVIEW_CHARS])

    async def _mcp(self, server: str, tool: str, arguments: dict[str, Any]) -> _Outcome:
        p = self.policy
        ask = McpCall(
            server=server,
            tool=tool,
            arguments=arguments,
            max_result_chars=p.max_result_chars,
            timeout_seconds=p.call_timeout_seconds,
        )
        got: McpResult = await self._activity(
            ToolActivities.call, ask, p.task_queue, f"tool {server}.{tool}"
        )
        return _Outcome(
            _fenced(server, tool, got.text),
            "error" if got.is_error else "ok",
            "the tool reported an error" if got.is_error else "",
            got.truncated,
            got.chars,
        )

    async def _run_python(self, arguments: dict[str, Any]) -> _Outcome:
        ask = builtins.sandbox_request(arguments, self.policy.call_timeout_seconds)
        report = await self._activity(
            SandboxActivities.verify, ask, self.sandbox_queue, "tool sandbox.run_python"
        )
        return self._capped(*builtins.RUN_PYTHON, builtins.sandbox_text(report))

    async def _search(self, arguments: dict[str, Any], scan: PiiScanResult) -> _Outcome:
        queue = self.policy.memory_task_queue
        if queue is None:
            raise ValueError("memory is not enabled for this task")
        ask = builtins.search_request(arguments, self.tenant)
        ask = ask.model_copy(update={"query": exposure.for_memory(ask.query, scan)})
        found: SearchResult = await self._activity(
            MemoryActivities.search, ask, queue, "tool memory.search"
        )
        return self._capped(*builtins.MEMORY_SEARCH, builtins.search_text(found))

    def _capped(self, server: str, tool: str, text: str) -> _Outcome:
        body, cut = results.capped(text, self.policy.max_result_chars)
        return _Outcome(_fenced(server, tool, body), truncated=cut, chars=len(text))

    async def _activity(self, method: Any, arg: Any, queue: str, summary: str) -> Any:
        """An activity bounded by the call's timeout; a cancel of the task cancels it."""
        limit = timedelta(seconds=self.policy.call_timeout_seconds + 30)
        handle = workflow.start_activity_method(
            method,
            arg,
            task_queue=queue,
            start_to_close_timeout=limit,
            schedule_to_close_timeout=limit * TOOL_CALL.retry.maximum_attempts + QUEUE_WAIT,
            heartbeat_timeout=TOOL_CALL.heartbeat,
            retry_policy=TOOL_CALL.retry,
            summary=summary,
            priority=Priority(priority_key=self.priority),
        )
        await workflow.wait_condition(lambda: handle.done() or self.cancelled() is not None)
        if not handle.done():
            handle.cancel()
            raise CallCancelled(self.cancelled() or "cancelled")
        return await handle

    async def _offer(self) -> list[ToolSpec]:
        """The allowed tools, found once per task: the built-ins, and what each allowed
        MCP server lists (an activity; a server that does not answer is left out)."""
        if self._catalog is not None:
            return self._offered
        found = [s for s in builtins.SPECS if s.server != "memory" or self.policy.memory_task_queue]
        servers = names.mcp_servers(self.policy)
        if servers:
            found += await self._discover(servers)
        self._catalog = {spec.name: spec for spec in reversed(found)}
        self._offered = names.offered(self.policy, found)
        return self._offered

    async def _discover(self, servers: list[str]) -> list[ToolSpec]:
        try:
            catalog = await workflow.execute_activity_method(
                ToolActivities.list_tools,
                ToolListRequest(servers=servers),
                task_queue=self.policy.task_queue,
                start_to_close_timeout=TOOL_LIST.start_to_close,
                schedule_to_close_timeout=TOOL_LIST.start_to_close * 2 + QUEUE_WAIT,
                retry_policy=TOOL_LIST.retry,
                summary=f"list tools of {', '.join(servers)}",
            )
        except ActivityError as err:
            workflow.logger.warning("no MCP tools for this task: %s", err.cause or err)
            return []
        for server, why in catalog.errors.items():
            workflow.logger.warning("tools of %s not offered: %s", server, why)
        return catalog.tools


def _fenced(server: str, tool: str, text: str) -> str:
    return results.fenced(server, tool, text)


def _json(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, sort_keys=True)


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "..."
