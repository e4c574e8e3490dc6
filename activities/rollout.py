"""The rollout gate's side effects: the deployment's routing (ramp, promote, roll back) and
the measurement of both versions' finished tasks, read from visibility (search attributes
the tasks set when they end: status, judge score, confidence, cost)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, WorkerDeploymentVersion

from naestro import deployments, search
from naestro.client import SHADOW_SUFFIX
from naestro.contracts.deploy import GateStats, MeasureRequest, RolloutSpec, RouteChange
from naestro.contracts.rollout import TaskOutcome
from naestro.errors import NaestroError, to_application_error
from naestro.gate import arm_stats, pair_stats

log = logging.getLogger(__name__)
VERSION = SearchAttributeKey.for_keyword("TemporalWorkerDeploymentVersion")  # "name:build"
_FAILED = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.TERMINATED,
}
HEARTBEAT_EVERY = 200  # listed tasks between heartbeats


class RolloutActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="naestro.rollout.route")
    async def route(self, change: RouteChange) -> None:
        """Start (canary: ramp the candidate; shadow: check it polls), promote (make it
        current), or roll back / abort (end a ramp that is still ours)."""
        try:
            await _route(self._client, change.spec, change.action)
        except NaestroError as exc:
            raise to_application_error(exc) from None

    @activity.defn(name="naestro.rollout.measure")
    async def measure(self, request: MeasureRequest) -> GateStats:
        spec = request.spec
        outcomes: dict[str, tuple[str, bool, TaskOutcome]] = {}
        async for execution in self._client.list_workflows(_finished_tasks(spec)):
            if len(outcomes) % HEARTBEAT_EVERY == 0:
                activity.heartbeat(len(outcomes))
            read = _read(execution)
            if read is not None:
                outcomes[execution.id] = read
        return split(spec, outcomes)


async def _route(client: Client, spec: RolloutSpec, action: str) -> None:
    candidate = WorkerDeploymentVersion(spec.deployment, spec.candidate)
    if action == "start":
        state = await deployments.require(client, spec.deployment)
        if state.version(spec.candidate) is None:
            raise NaestroError(
                f"version {spec.candidate} of {spec.deployment} has no workers: start them first"
            )
        if spec.mode == "canary":
            await deployments.set_ramping(client, spec.deployment, spec.candidate, spec.percent)
    elif action == "promote":
        await deployments.set_current(client, candidate)
    else:
        state = await deployments.require(client, spec.deployment)
        if state.ramping == spec.candidate:  # someone else's ramp is not ours to end
            await deployments.set_ramping(client, spec.deployment, None)
    log.info("rollout %s: %s %s (%s)", spec.deployment, action, spec.candidate, spec.mode)


def _finished_tasks(spec: RolloutSpec) -> str:
    since = (spec.since or datetime(1970, 1, 1, tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    versions = ", ".join(
        f"'{deployments.search_value(WorkerDeploymentVersion(spec.deployment, b))}'"
        for b in (spec.baseline, spec.candidate)
    )
    return (
        f"WorkflowType = '{spec.task_type}' AND StartTime >= '{since}' "
        f"AND ExecutionStatus != 'Running' AND TemporalWorkerDeploymentVersion IN ({versions})"
    )


def _read(execution: WorkflowExecution) -> tuple[str, bool, TaskOutcome] | None:
    """(build id, shadow?, outcome) of a finished task; None for a cancelled one (a
    person's choice says nothing of the version's quality)."""
    attrs = execution.typed_search_attributes
    status = attrs.get(search.STATUS)
    if execution.status == WorkflowExecutionStatus.CANCELED or status == "cancelled":
        return None
    version = attrs.get(VERSION)
    if not version:
        return None
    build = version.split(":", 1)[-1]
    seconds = 0.0
    if execution.close_time and execution.start_time:
        seconds = (execution.close_time - execution.start_time).total_seconds()
    outcome = TaskOutcome(
        task_id=execution.id,
        passed=status == "succeeded",
        failed=execution.status in _FAILED or status == "failed",
        score=attrs.get(search.SCORE),
        confidence=attrs.get(search.CONFIDENCE),
        cost_usd=attrs.get(search.COST) or 0.0,
        seconds=seconds,
    )
    return build, bool(attrs.get(search.SHADOW)), outcome


def split(spec: RolloutSpec, outcomes: dict[str, tuple[str, bool, TaskOutcome]]) -> GateStats:
    """The two arms. Canary: the users' tasks on each version. Shadow: the candidate's
    shadow tasks against the users' tasks they mirror (pairs: the same prompt)."""
    if spec.mode == "canary":
        baseline = _arm(outcomes.values(), spec.baseline, shadow=False)
        candidate = _arm(outcomes.values(), spec.candidate, shadow=False)
        counted = len(baseline) + len(candidate)
        return GateStats(
            baseline=arm_stats(baseline),
            candidate=arm_stats(candidate),
            skipped=len(outcomes) - counted,
        )
    shadows = _arm(outcomes.values(), spec.candidate, shadow=True)
    pairs = []
    for shadow in shadows:
        primary = outcomes.get(shadow.task_id.removesuffix(SHADOW_SUFFIX))
        if primary is not None and primary[0] == spec.baseline and not primary[1]:
            pairs.append((primary[2], shadow))
    baseline = [p for p, _ in pairs]
    return GateStats(
        baseline=arm_stats(baseline),
        candidate=arm_stats([s for _, s in pairs]),
        pairs=pair_stats(pairs),
        skipped=len(outcomes) - 2 * len(pairs),
    )


def _arm(
    outcomes: Iterable[tuple[str, bool, TaskOutcome]], build: str, *, shadow: bool
) -> list[TaskOutcome]:
    return [o for b, s, o in outcomes if b == build and s == shadow]
