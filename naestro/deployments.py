"""Worker Deployments on the Temporal server: their routing (current and ramping version)
and their versions' drainage, through the workflow service (the Python SDK has no
higher-level calls for them yet). Shared by the workers, the rollout activities and the CLI.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field

from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

from naestro.errors import DeploymentError

UNVERSIONED = "__unversioned__"
IDENTITY = f"naestro@{socket.gethostname()}:{os.getpid()}"
# A read the server abandoned (seen: "operation was canceled" while a deployment's first
# workers register it) is asked again; reads are idempotent.
_TRANSIENT = (
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
)
_READ_TRIES = 5


@dataclass(frozen=True)
class VersionState:
    build_id: str
    status: str  # inactive, current, ramping, draining, drained
    drainage: str | None  # draining / drained once it is neither current nor ramping


@dataclass(frozen=True)
class DeploymentState:
    name: str
    current: str | None  # build ids; None: unversioned workers get new tasks
    ramping: str | None
    ramp_percent: float
    versions: list[VersionState] = field(default_factory=list)

    def version(self, build_id: str) -> VersionState | None:
        return next((v for v in self.versions if v.build_id == build_id), None)


def search_value(version: WorkerDeploymentVersion) -> str:
    """The value of the built-in TemporalWorkerDeploymentVersion search attribute."""
    return f"{version.deployment_name}:{version.build_id}"


def _build_of(proto: VersionProto, legacy: str) -> str | None:
    if proto.build_id:
        return proto.build_id
    if legacy and legacy != UNVERSIONED and "." in legacy:
        return legacy.split(".", 1)[1]
    return None


def _status_name(value: int) -> str:
    name = WorkerDeploymentVersionStatus.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("WORKER_DEPLOYMENT_VERSION_STATUS_").lower()


def _drainage_name(value: int) -> str | None:
    if value == VersionDrainageStatus.VERSION_DRAINAGE_STATUS_UNSPECIFIED:
        return None
    name = VersionDrainageStatus.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("VERSION_DRAINAGE_STATUS_").lower()


async def describe(client: Client, name: str) -> DeploymentState | None:
    """The deployment's routing and versions; None when no worker of it has polled yet."""
    request = DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
    for attempt in range(_READ_TRIES):
        try:
            response = await client.workflow_service.describe_worker_deployment(request)
            break
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            if err.status not in _TRANSIENT or attempt == _READ_TRIES - 1:
                raise
            await asyncio.sleep(0.2 * 2**attempt)
    info = response.worker_deployment_info
    routing = info.routing_config
    versions = [
        VersionState(
            build_id=_build_of(s.deployment_version, s.version) or s.version,
            status=_status_name(s.status),
            drainage=_drainage_name(s.drainage_info.status or s.drainage_status),
        )
        for s in info.version_summaries
    ]
    ramping = _build_of(routing.ramping_deployment_version, routing.ramping_version)
    return DeploymentState(
        name=name,
        current=_build_of(routing.current_deployment_version, routing.current_version),
        ramping=ramping,
        ramp_percent=routing.ramping_version_percentage if ramping else 0.0,
        versions=versions,
    )


async def require(client: Client, name: str) -> DeploymentState:
    state = await describe(client, name)
    if state is None:
        raise DeploymentError(
            f"no worker deployment {name!r} on this server: start a versioned worker "
            "(`naestro worker`) first"
        )
    return state


async def wait_registered(
    client: Client, version: WorkerDeploymentVersion, within: float
) -> DeploymentState:
    """The deployment once ``version`` is listed in it (its workers' first poll)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        state = await describe(client, version.deployment_name)
        if state is not None and state.version(version.build_id) is not None:
            return state
        if loop.time() >= deadline:
            raise DeploymentError(
                f"version {version.build_id} of {version.deployment_name} was not registered "
                f"within {within:.0f}s: do its workers reach the server?"
            )
        await asyncio.sleep(0.2)


async def set_current(client: Client, version: WorkerDeploymentVersion) -> None:
    """Route new tasks (and auto-upgrading workflows) to ``version``; ends any ramp to it."""
    await _routing_call(
        client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace,
                deployment_name=version.deployment_name,
                build_id=version.build_id,
                identity=IDENTITY,
                ignore_missing_task_queues=True,
            )
        ),
        f"make {version.build_id} current",
    )


async def set_ramping(
    client: Client, deployment: str, build_id: str | None, percent: float = 0.0
) -> None:
    """Send ``percent`` of new tasks to ``build_id`` (None: end the ramp)."""
    what = f"ramp {build_id} to {percent:g}%" if build_id else "end the ramp"
    await _routing_call(
        client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace,
                deployment_name=deployment,
                build_id=build_id or "",
                percentage=percent if build_id else 0.0,
                identity=IDENTITY,
                ignore_missing_task_queues=True,
            )
        ),
        what,
    )


async def _routing_call(call: Awaitable[object], what: str) -> None:
    try:
        await call
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise DeploymentError(f"the server refused to {what}: {err.message}") from None
        raise


async def drainage(client: Client, version: WorkerDeploymentVersion) -> str | None:
    """draining / drained for a version that is neither current nor ramping (else None)."""
    response = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(
            namespace=client.namespace,
            deployment_version=VersionProto(
                deployment_name=version.deployment_name, build_id=version.build_id
            ),
        )
    )
    return _drainage_name(response.worker_deployment_version_info.drainage_info.status)
