"""Client-side rollout operations shared by the CLI and the API: start a rollout's gate,
read its state, send it a person's command, and mirror a share of new tasks to a shadow
rollout's candidate (naestro/client.py start_task)."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from naestro import deployments, names
from naestro.connect import NO_WORKER_ANSWER
from naestro.contracts.deploy import RolloutCommand, RolloutSpec, RolloutState, ShadowTarget
from naestro.errors import DeploymentError

QUERY_SECONDS = 5.0
SHADOW_TTL_SECONDS = 5.0  # how long a client trusts what it read of a shadow rollout
_shadow_cache: dict[tuple[int, str], tuple[float, ShadowTarget | None]] = {}

RolloutHandle = WorkflowHandle[object, RolloutState]


def rollout_id(deployment: str) -> str:
    return names.ROLLOUT_ID_PREFIX + deployment


def handle(client: Client, deployment: str) -> RolloutHandle:
    return client.get_workflow_handle(rollout_id(deployment), result_type=RolloutState)


async def start(client: Client, spec: RolloutSpec, task_queue: str) -> RolloutHandle:
    """Start the gate for ``spec`` (one rollout per deployment at a time); its candidate's
    workers must be polling already."""
    if spec.candidate == spec.baseline:
        raise DeploymentError(f"{spec.candidate} is already the current version")
    known = await deployments.require(client, spec.deployment)
    if known.version(spec.candidate) is None:
        raise DeploymentError(
            f"version {spec.candidate} of {spec.deployment} has no workers: start them first "
            f"(`naestro worker --build-id {spec.candidate}`)"
        )
    try:
        started: RolloutHandle = await client.start_workflow(
            names.ROLLOUT_WORKFLOW,
            RolloutState(spec=spec),
            id=rollout_id(spec.deployment),
            task_queue=task_queue,
            result_type=RolloutState,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=(
                f"{spec.mode} rollout of {spec.candidate} at {spec.percent:g}% "
                f"(baseline {spec.baseline})"
            ),
        )
    except WorkflowAlreadyStartedError:
        raise DeploymentError(
            f"a rollout of {spec.deployment} is in progress: see `naestro rollout status`, "
            "or end it with promote, rollback or abort"
        ) from None
    return started


async def state(client: Client, deployment: str) -> RolloutState | None:
    """The running gate's state; None when no rollout of ``deployment`` runs."""
    try:
        view: RolloutState = await handle(client, deployment).query(
            names.ROLLOUT_STATE_QUERY,
            result_type=RolloutState,
            reject_condition=QueryRejectCondition.NOT_OPEN,
            rpc_timeout=timedelta(seconds=QUERY_SECONDS),
        )
    except WorkflowQueryRejectedError:
        return None  # the last rollout has ended
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        if err.status not in NO_WORKER_ANSWER:
            raise
        raise DeploymentError(
            f"the rollout gate of {deployment} is running but no worker answered for it "
            "(start the workers of its baseline version)"
        ) from None
    return view


async def last(client: Client, deployment: str) -> RolloutState | None:
    """The most recent rollout's final state (None: none has run)."""
    try:
        return await handle(client, deployment).result(rpc_timeout=timedelta(seconds=10))
    except WorkflowFailureError:
        return None  # it failed: nothing final to show (`temporal workflow show` has why)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def command(client: Client, deployment: str, order: RolloutCommand) -> RolloutState:
    """Send a person's command to the running gate; its state once applied."""
    if await state(client, deployment) is None:
        raise DeploymentError(f"no rollout of {deployment} is running")
    result: RolloutState = await handle(client, deployment).execute_update(
        names.ROLLOUT_COMMAND_UPDATE, order, result_type=RolloutState
    )
    return result


def in_share(task_id: str, percent: float) -> bool:
    """Whether ``task_id`` falls in a ``percent`` share: stable per id, so a retried submit
    (same id) is mirrored, or not, the same way."""
    bucket = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:4], "big") % 10_000
    return bucket < percent * 100


async def shadow_target(client: Client, deployment: str) -> ShadowTarget | None:
    """Where new tasks are mirrored while a shadow rollout measures (cached briefly)."""
    key = (id(client), deployment)
    now = time.monotonic()
    cached = _shadow_cache.get(key)
    if cached is not None and now - cached[0] < SHADOW_TTL_SECONDS:
        return cached[1]
    try:
        view = await state(client, deployment)
    except (RPCError, DeploymentError):
        view = None  # no rollout worker answered: mirror nothing rather than fail a submit
    target = None
    if view is not None and view.spec.mode == "shadow" and view.phase == "measuring":
        spec = view.spec
        target = ShadowTarget(deployment=deployment, build_id=spec.candidate, percent=spec.percent)
    _shadow_cache[key] = (now, target)
    return target


def forget_shadow_targets() -> None:
    """Drop what this process read of shadow rollouts (tests; a rollout just started)."""
    _shadow_cache.clear()
