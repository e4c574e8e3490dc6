"""Two worker versions of Naestro on one dev server: the same orchestrator and sandbox queues,
each with its own scripted model (so the versions answer observably differently), joined to
a worker deployment unique to the test."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError

from naestro import deployments, names, rollouts
from naestro.config.settings import Settings
from naestro.contracts import (
    ApprovalDecision,
    ApprovalOutcome,
    TaskResult,
    TaskStatusView,
)
from naestro.contracts.deploy import RolloutState
from naestro.errors import DeploymentError
from tests.support import ALL_ROLES, make_settings, replay_provider, write_script
from tests.workflow.scripts import BUGGY, FIXED, TESTS, verdict
from workers.deps import Deps
from workers.main import build_workers, select_queues

PROMPT = "Write add(a, b) returning the sum, with pytest tests."


def answers(code: str, label: str) -> list[dict[str, Any]]:
    """A code task's replies: the implementation (tagged with the version) and a verdict."""
    return [
        {"role": "planner", "text": "1. Write add. 2. Test it."},
        {"role": "judge", "text": verdict(0.9)},
        {"text": f"{code[: code.rindex('```')]}# answered by {label}\n```\n\n{TESTS}"},
    ]


GOOD, BAD = FIXED, BUGGY  # the candidate that fails its tests more often answers BUGGY


def version_settings(
    tmp: Path,
    label: str,
    rules: list[dict[str, Any]],
    deployment: str,
    *,
    queues: dict[str, str] | None = None,
    **more: Any,
) -> Settings:
    """One version's settings: its own scripted provider (and model queue), the shared
    orchestrator and sandbox queues (``queues``: the first version's)."""
    folder = tmp / label
    folder.mkdir(exist_ok=True)
    script = write_script(folder / "script.jsonl", rules)
    pid = f"scripted_{label}"
    roles = dict.fromkeys(ALL_ROLES, [pid])
    policies: dict[str, Any] = {
        "default": {"roles": roles, "plan": False},
        # tasks that wait for a person before their plan (a task kept open on purpose)
        "held": {"roles": roles, "approval": {"plan": True, "timeout_seconds": 600}},
    }
    sections: dict[str, Any] = {
        "policies": policies,
        "deploy": {
            "name": deployment,
            "build_id": label,
            "make_current": "never",
        },
    }
    if queues is not None:
        sections["queues"] = queues
    return make_settings(folder, [replay_provider(script, pid)], **sections, **more)


def shared_queues(settings: Settings) -> dict[str, str]:
    q = settings.queues
    return {
        "orchestrator": q.orchestrator,
        "models_cloud": q.models_cloud,
        "sandbox": q.sandbox,
        "memory": q.memory,
    }


def new_deployment() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def two_versions(tmp: Path, candidate: str = GOOD, **sections: Any) -> tuple[Settings, Settings]:
    """v1 and v2 of a new deployment on shared queues; v2 answers with ``candidate``."""
    name = new_deployment()
    v1 = version_settings(tmp, "v1", answers(GOOD, "v1"), name, **sections)
    v2 = version_settings(
        tmp, "v2", answers(candidate, "v2"), name, queues=shared_queues(v1), **sections
    )
    return v1, v2


@asynccontextmanager
async def serving(
    client: Client, settings: Settings, *, sandbox: bool = True, memory: bool = True
) -> AsyncIterator[WorkerDeploymentVersion]:
    """A version's workers, polling until the block ends; yields once it is registered.
    ``sandbox``, ``memory``: also poll those queues (one process may hold one worker per
    unversioned queue: the versions share the first one's)."""
    shared = {"sandbox": sandbox, "memory": memory}
    plans = [p for p in select_queues(settings, []) if shared.get(p.kind, True)]
    deps = Deps.from_settings(settings)
    async with AsyncExitStack() as stack:
        for worker in build_workers(client, deps, plans):
            await stack.enter_async_context(worker)
        version = WorkerDeploymentVersion(settings.deploy.name, settings.deploy.build_id or "")
        await deployments.wait_registered(client, version, 30)
        yield version
    await deps.aclose()


def label_of(result: TaskResult) -> str:
    """The version that wrote the answer (its solution file says so)."""
    found = re.search(r"# answered by (\S+)", result.answer)
    return found.group(1) if found else "?"


@asynccontextmanager
async def ended(handles: list[WorkflowHandle[Any, Any]]) -> AsyncIterator[None]:
    """Terminate whichever of ``handles`` still run when the block ends (a failed test must
    not leave tasks running for the next: the API's backpressure counts them)."""
    try:
        yield
    finally:
        for handle in handles:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")


async def results(handles: list[WorkflowHandle[Any, TaskResult]]) -> list[TaskResult]:
    return list(await asyncio.gather(*(h.result() for h in handles)))


async def wait_phase(client: Client, name: str, *phases: str, within: float = 60) -> RolloutState:
    """The gate's state once it reaches one of ``phases`` (its final state if it ended)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    state = None
    while loop.time() < deadline:
        try:
            state = await rollouts.state(client, name)
        except DeploymentError:  # its worker is (re)starting: no answer yet
            await asyncio.sleep(0.2)
            continue
        if state is not None and state.phase in phases:
            return state
        if state is None:  # ended: its result is the final state
            final = await rollouts.last(client, name)
            assert final is not None
            if final.phase in phases:
                return final
            raise AssertionError(f"the rollout ended {final.phase}: {final.reason}")
        await asyncio.sleep(0.2)
    raise AssertionError(f"no phase {phases} within {within}s: {state}")


async def pending_plan(handle: WorkflowHandle[Any, Any]) -> str:
    """The content hash of the plan a held task waits to have approved."""
    for _ in range(300):
        view = await handle.query(names.STATUS_QUERY, result_type=TaskStatusView)
        if view.pending_approval is not None:
            return view.pending_approval.content_hash
        await asyncio.sleep(0.1)
    raise AssertionError("the held task never asked for plan approval")


async def approve_plan(handle: WorkflowHandle[Any, Any], digest: str) -> None:
    decision = ApprovalDecision(stage="plan", content_hash=digest, action="approve", approver="t")
    await handle.execute_update(names.APPROVAL_UPDATE, decision, result_type=ApprovalOutcome)
