"""Record TaskWorkflow histories for the replay gate (`make histories`): the default
policy's code task that refines, the budget-exhausted one, plan and answer approval by the
`approval` update, a judge whose verdict needs its one repair, the PII review of an answer
under a tenant policy that redacts, a code task its prompt's examples verify, a task
that waits for a restarting engine (a loopback server speaking OpenAI's wire format),
a maths task whose answer is checked against the expected one, a task whose
implementer calls an MCP tool (and one it may not), and a task whose calls cost nothing.

Re-record only on purpose (a workflow change that is meant to be incompatible, guarded by
workflow.patched or a new worker deployment version); the old files must keep replaying
until no such workflow can be open anywhere (see recording.py: older generations are frozen).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro import names  # noqa: E402
from naestro.config.settings import Settings  # noqa: E402
from naestro.contracts import (  # noqa: E402
    ApprovalAction,
    ApprovalDecision,
    ApprovalOutcome,
    ApprovalStage,
    Budget,
    TaskRequest,
    TaskStatusView,
)
from naestro.contracts.verify import VerifySpec  # noqa: E402
from tests.histories.recording import (  # noqa: E402
    Case,
    TaskHandle,
    record_cases,
    recorder_main,
    recording_env,
)
from tests.providers.payloads import openai_completion, openai_error, openai_usage  # noqa: E402
from tests.providers.wire import Reply, WireServer  # noqa: E402
from tests.selection.test_selection import BUGGY, FIXED, LEAN  # noqa: E402
from tests.selection.test_selection import PROMPT as WITH_EXAMPLES  # noqa: E402
from tests.support import make_settings, replay_provider, write_script  # noqa: E402
from tests.workflow.scripts import PROMPT, code_task_rules, verdict  # noqa: E402
from tests.workflow.test_checks import RIGHT as CHECKED_RIGHT  # noqa: E402
from tests.workflow.test_checks import WRONG as CHECKED_WRONG  # noqa: E402
from tests.workflow.test_subtasks import INTEGRATE, REPLAN, plan_rule, subtask  # noqa: E402
from workflows.steps.approval import content_hash  # noqa: E402

QUESTION, PLAN, ANSWER = "What is six times seven?", "1. Think. 2. Answer.", "The answer is 42."
GENERAL_RULES = [
    {"role": "planner", "text": PLAN},
    {"role": "judge", "text": verdict(0.9)},
    {"text": ANSWER},
]
# The judge's first reply is no verdict; the repair round (which repeats it) gets one.
NOT_JSON = "Looks right to me, ship it."
# The provider sees the prompt's email as <EMAIL_1> (the tenant redacts for local providers
# too) and answers with a new address, which the output review redacts.
EMAIL, TENANT = "violet.q@example.com", "acme"
PII_RULES = [
    {"role": "planner", "text": "1. Apologise to <EMAIL_1>."},
    {"role": "judge", "text": verdict(0.9)},
    {"text": "Dear <EMAIL_1>, sorry for the delay. Ops (ops-lead@example.org) is copied."},
]
APPROVER = "recorder"
# Plan and implement fit, the refine round's reservation does not: the task stops
# mid-loop with its best (failing) draft.
BUDGET = 1500
WIRE_PATH, WIRE_MODEL = "/v1/chat/completions", "loopback-model"


async def _pending(handle: TaskHandle, stage: ApprovalStage) -> str:
    """The content hash of the approval the task waits for at ``stage``."""
    for _ in range(600):
        view: TaskStatusView = await handle.query(names.STATUS_QUERY, result_type=TaskStatusView)
        if view.pending_approval is not None and view.pending_approval.stage == stage:
            return view.pending_approval.content_hash
        await asyncio.sleep(0.1)
    raise SystemExit(f"{handle.id}: no {stage} approval became pending within a minute")


async def _decide(
    handle: TaskHandle, stage: ApprovalStage, digest: str, action: ApprovalAction
) -> None:
    decision = ApprovalDecision(
        stage=stage, content_hash=digest, action=action, approver=APPROVER, comment=action
    )
    await handle.execute_update(names.APPROVAL_UPDATE, decision, result_type=ApprovalOutcome)


async def approve_plan_and_answer(handle: TaskHandle) -> None:
    """A comment on the plan (the task keeps waiting), then approval of plan and answer,
    each bound to the sha256 of the exact text."""
    digest = await _pending(handle, "plan")
    if digest != content_hash(PLAN):
        raise SystemExit(f"{handle.id}: the plan's approval is not bound to the plan's sha256")
    await _decide(handle, "plan", digest, "comment")
    await _decide(handle, "plan", digest, "approve")
    await _decide(handle, "answer", await _pending(handle, "answer"), "approve")


def _ok(text: str) -> Reply:
    usage = openai_usage(20, 10)
    return Reply(body=openai_completion(text, model=WIRE_MODEL, usage=usage))


@contextmanager
def _wire_provider(replies: list[Reply]) -> Iterator[dict[str, Any]]:
    """A vLLM-style provider whose engine is a loopback server answering ``replies``."""
    with WireServer() as wire:
        wire.serve_models(WIRE_MODEL)
        wire.script(WIRE_PATH, *replies)
        yield {"id": "gpu", "engine": "vllm", "endpoint": f"{wire.url}/v1", "model": WIRE_MODEL}


@dataclass(frozen=True)
class Group:
    """Cases run on one set of workers: a replay script (or, with ``wire``, a loopback
    engine's replies instead), the default policy's settings and the other sections."""

    rules: list[dict[str, Any]]
    cases: list[Case]
    sections: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    wire: list[Reply] = field(default_factory=list)
    provider: dict[str, Any] = field(default_factory=dict)  # the replay provider's settings

    @contextmanager
    def settings(self, tmp: Path) -> Iterator[Settings]:
        if self.wire:
            with _wire_provider(self.wire) as provider:
                yield make_settings(tmp, [provider], self.policy, **self.sections)
            return
        script = write_script(tmp / "script.jsonl", self.rules)
        provider = replay_provider(script, **self.provider)
        yield make_settings(tmp, [provider], self.policy, **self.sections)


CODE = Group(
    code_task_rules(),
    [
        Case("task_code_refined", TaskRequest(prompt=PROMPT, kind="code"), "succeeded"),
        Case(
            "task_budget_exhausted",
            TaskRequest(prompt=PROMPT, kind="code", budget=Budget(max_tokens=BUDGET)),
            "budget_exhausted",
        ),
    ],
)
APPROVAL = Group(
    GENERAL_RULES,
    [Case("task_approval", TaskRequest(prompt=QUESTION), "succeeded", approve_plan_and_answer)],
    policy={"approval": {"plan": True, "answer": True, "timeout_seconds": 600}},
)
JUDGE_REPAIR = Group(
    [
        {"role": "judge", "contains": NOT_JSON, "text": verdict(0.9)},
        {"role": "judge", "text": NOT_JSON},
        *GENERAL_RULES,
    ],
    [Case("task_judge_repaired", TaskRequest(prompt=QUESTION), "succeeded")],
)
OUTPUT_REVIEW = Group(
    PII_RULES,
    [
        Case(
            "task_output_review",
            TaskRequest(prompt=f"Write a short apology to {EMAIL}.", tenant=TENANT),
            "succeeded",
        )
    ],
    {
        "pii": {
            "tenants": {TENANT: {"cloud": "redact", "local": "redact"}},
            "review_output": "redact",
        }
    },
)
# No plan, no tests of its own: the draft fails the prompt's doctest examples, the revision
# (asked with the failing examples named) passes them, and no judge is asked.
EXAMPLES = Group(
    [
        {"phase": "implement", "text": BUGGY},
        {"phase": "refine", "contains": "test_example_1", "text": FIXED},
    ],
    [Case("task_examples", TaskRequest(prompt=WITH_EXAMPLES, kind="code"), "succeeded")],
    policy=LEAN,
)
# The engine fails the plan call's two attempts (restarting); routing finds no other
# provider, the task waits on a durable timer, routes again and the engine is back.
WAIT_FOR_PROVIDER = Group(
    [],
    [Case("task_wait_for_provider", TaskRequest(prompt=QUESTION), "succeeded")],
    wire=[
        openai_error(503, "engine restarting"),
        openai_error(503, "engine restarting"),
        _ok(PLAN),
        _ok(ANSWER),
        _ok(verdict(0.9)),
    ],
)
# A structured plan that fans out: a and b in parallel, c after a; a's first run fails the
# judge, is re-planned once and then succeeds; the parent integrates the three results.
SUBTASKS = Group(
    [
        plan_rule([subtask("a"), subtask("b"), subtask("c", ["a"])]),
        {
            "role": "planner",
            "contains": REPLAN,
            "text": json.dumps(subtask("a") | {"prompt": "Do SUBTASK-A2 now."}),
        },
        {"phase": "implement", "contains": INTEGRATE, "text": "integrated answer"},
        {"phase": "implement", "contains": "SUBTASK-A2", "text": "answer-A2"},
        {"phase": "implement", "contains": "SUBTASK-A", "text": "bad-A"},
        {"phase": "implement", "text": "answer"},
        {"role": "judge", "contains": "bad-A", "text": verdict(0.1, "reject")},
        {"role": "judge", "text": verdict(0.9)},
    ],
    [
        Case(
            "task_subtasks",
            TaskRequest(prompt="Three parts.", budget=Budget(max_refine_rounds=0)),
            "succeeded",
        )
    ],
    policy={"subtasks": {"enabled": True}},
)
# A maths task with an expected answer: the draft's answer fails the maths check, the
# revision (asked with the check's summary) passes it, and the judge accepts.
CHECKS = Group(
    [
        {"role": "planner", "text": PLAN},
        {"phase": "refine", "contains": "math check failed", "text": CHECKED_RIGHT},
        {"phase": "implement", "text": CHECKED_WRONG},
        {"role": "judge", "text": verdict(0.9)},
    ],
    [
        Case(
            "task_math_checked",
            TaskRequest(prompt=QUESTION, kind="math", verify=VerifySpec(expected_answer="42")),
            "succeeded",
        )
    ],
)
# The implementer calls a tool of an MCP server (tests/tools/mcp_server.py over stdio, the
# tools worker starting it) and one no policy allows (refused); the result comes back fenced
# and the implementer answers with it.
MCP_SERVER = [sys.executable, str(ROOT / "tests/tools/mcp_server.py"), "--record", os.devnull]
ECHO_TOOLS = {"tools": {"servers": {"echo": {"command": MCP_SERVER}}}}  # its shout allowed
ECHO_POLICY = {"tools": ["echo.shout"]}
TOOLS = Group(
    [
        {"role": "planner", "text": PLAN},
        {"phase": "implement", "contains": 'source="tool echo.shout"', "text": ANSWER},
        {
            "phase": "implement",
            "tool_calls": [
                {"name": "echo__shout", "arguments": {"text": "six times seven"}},
                {"name": "echo__forbidden"},
            ],
        },
        {"role": "judge", "text": verdict(0.9)},
    ],
    [Case("task_tools", TaskRequest(prompt=QUESTION), "succeeded")],
    ECHO_TOOLS,
    policy=ECHO_POLICY,
)
# The tool's result holds an email address the prompt did not: it is scanned before the
# model reads it, and the model (a cloud one: the default policy redacts PII for those)
# reads a placeholder for it. The local tool server gets the model's arguments as they are.
TOOL_RESULT_PII = Group(
    [
        {"role": "planner", "text": PLAN},
        {"phase": "implement", "contains": "WRITE TO <EMAIL_1>", "text": ANSWER},
        {
            "phase": "implement",
            "tool_calls": [
                {"name": "echo__shout", "arguments": {"text": "write to ann@example.com"}}
            ],
        },
        {"role": "judge", "text": verdict(0.9)},
    ],
    [Case("task_tool_result_pii", TaskRequest(prompt=QUESTION), "succeeded")],
    ECHO_TOOLS,
    policy=ECHO_POLICY,
    provider={"location": "cloud"},
)
# A task whose model calls cost nothing (a local or a scripted model): its cost, zero from
# the start, is not upserted again after each call.
FREE_CALLS = Group(
    GENERAL_RULES, [Case("task_free_calls", TaskRequest(prompt=QUESTION), "succeeded")]
)
GROUPS = [
    CODE,
    APPROVAL,
    JUDGE_REPAIR,
    OUTPUT_REVIEW,
    EXAMPLES,
    WAIT_FOR_PROVIDER,
    SUBTASKS,
    CHECKS,
    TOOLS,
    TOOL_RESULT_PII,
    FREE_CALLS,
]


async def main(force: bool) -> None:
    async with recording_env() as env:
        for group in GROUPS:
            with tempfile.TemporaryDirectory() as tmp, group.settings(Path(tmp)) as settings:
                await record_cases(env.client, settings, group.cases, force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", (case.stem for group in GROUPS for case in group.cases), main)
