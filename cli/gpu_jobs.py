"""`naestro gpus run` and `naestro gpus leases`: GPU jobs under a lease of the pool's
coordinator (workflows/gpu_pool.py), and what that coordinator holds now."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from naestro import names
from naestro.config.settings import GpuConfig, Settings, pool_workflow_id
from naestro.connect import connect
from naestro.contracts.gpu import GpuJobRequest, GpuJobResult, LeaseState, PoolView
from naestro.errors import NaestroError

console = Console()
JOB_ID_PREFIX = "naestro-gpu-job-"


class GpuJobError(NaestroError):
    """A GPU job could not be started, or failed."""


def _run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from cli.main import run_async  # one clear line and exit 1 for every expected failure

    run_async(work)()


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--pool", default=None, help="The GPU pool (node); default: gpu.pool.")
@click.option("--gpu", "devices", multiple=True, required=True, help="A device: index or MIG UUID.")
@click.option("--priority", type=click.IntRange(1, 5), default=5, show_default=True,
              help="1 foreground .. 5 background (preempted by higher priorities).")  # fmt: skip
@click.option("--id", "job_id", default=None, help="Job id (default: a new one).")
@click.option("--no-wait", is_flag=True, help="Start it and print its id only.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run_command(
    ctx: click.Context,
    pool: str | None,
    devices: tuple[str, ...],
    priority: int,
    job_id: str | None,
    no_wait: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND on the pool's GPUs under a lease: `naestro gpus run --gpu 0 -- CMD ...`.
    A preempted job gets SIGTERM, checkpoints to $NAESTRO_CHECKPOINT_DIR and exits 75; it is
    started again when its GPUs are free."""

    async def work() -> None:
        settings = _settings(ctx)
        request = GpuJobRequest(
            job_id=job_id or f"job-{uuid.uuid4().hex[:8]}",
            pool=pool or settings.gpu.pool,
            argv=list(command),
            devices=list(devices),
            priority=priority,
        )
        client = await connect()
        try:
            handle = await client.start_workflow(
                names.GPU_JOB_WORKFLOW,
                request,
                id=JOB_ID_PREFIX + request.job_id,
                task_queue=settings.queues.orchestrator,
                result_type=GpuJobResult,
            )
        except WorkflowAlreadyStartedError:
            raise GpuJobError(
                f"GPU job {request.job_id} exists already: pick another --id"
            ) from None
        console.print(f"GPU job {request.job_id} started ({handle.id})", highlight=False)
        queue = GpuConfig(pool=request.pool).jobs_queue
        if not await _polled(client, queue):
            console.print(
                f"no worker polls {queue} now: the job waits for one (a worker on that node "
                "with gpu.jobs_concurrency > 0)",
                style="yellow",
                highlight=False,
            )
        if no_wait:
            return
        try:
            result: GpuJobResult = await handle.result()
        except WorkflowFailureError as exc:
            cause = _root(exc)
            raise GpuJobError(f"GPU job {request.job_id} failed: {cause}") from None
        _print_result(result)

    _run(work)


async def _polled(client: Client, queue: str) -> bool:
    """Whether any worker polled the activity queue lately (the server's poller list)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    try:
        answer = await client.workflow_service.describe_task_queue(request)
    except RPCError:
        return True  # cannot tell: say nothing
    return bool(answer.pollers)


def _root(exc: BaseException) -> BaseException:
    """The activity's own error under the workflow's and the activity's wrappers."""
    cause = getattr(exc, "cause", None)
    while isinstance(cause, BaseException):
        exc, cause = cause, getattr(cause, "cause", None)
    return exc


def _print_result(result: GpuJobResult) -> None:
    console.print(
        f"GPU job {result.job_id}: exit {result.exit_code}, {result.runs} run(s), "
        f"{result.pauses} pause(s)",
        highlight=False,
    )
    if result.output_tail:
        console.print(result.output_tail.rstrip(), markup=False, highlight=False)


@click.command("leases")
@click.option("--pool", default=None, help="The GPU pool (node); default: gpu.pool.")
@click.pass_context
def leases_command(ctx: click.Context, pool: str | None) -> None:
    """The pool's leases, its queue, its counters and its last GPU health report."""

    async def work() -> None:
        name = pool or _settings(ctx).gpu.pool
        client = await connect()
        handle = client.get_workflow_handle(pool_workflow_id(name))
        try:
            view: PoolView = await handle.query(names.GPU_POOL_QUERY, result_type=PoolView)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise GpuJobError(
                    f"GPU pool {name} has no coordinator yet (no lease taken)"
                ) from None
            raise GpuJobError(f"GPU pool {name}: {exc.message}") from None
        _print_view(view)

    _run(work)


def _print_view(view: PoolView) -> None:
    console.print(
        f"GPU pool {view.pool}: {view.grants} grant(s), {view.preemptions} preemption(s), "
        f"{view.expired} expired, {view.revoked} revoked",
        highlight=False,
    )
    for title, states in (("held", view.leases), ("queued", view.queued)):
        if not states:
            console.print(f"{title}: none", highlight=False)
            continue
        console.print(_table(title, states))
    health = view.health
    if health is None:
        console.print("health: no report", highlight=False)
        return
    when = health.at.isoformat(timespec="seconds") if health.at else "unknown time"
    console.print(f"health from {health.host or 'unknown host'} at {when}:", highlight=False)
    for engine in health.engines:
        verdict = "ok" if engine.ok else f"unhealthy: {engine.reason}"
        console.print(
            f"  {engine.engine_id} on {','.join(engine.devices)}: {verdict}", highlight=False
        )


def _table(title: str, states: list[LeaseState]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("holder", "devices", "priority", "status", "fence", "detail"):
        table.add_column(column)
    for s in states:
        detail = s.detail
        if s.status == "preempt":
            detail = f"yield to {s.preempted_by} by {s.yield_by:.0f}" if s.yield_by else detail
        table.add_row(
            s.holder,
            ",".join(s.devices),
            str(s.priority),
            s.status,
            str(s.fence) if s.fence else "",
            detail,
        )
    return table
