"""The holder's side of a GPU lease (the coordinator is workflows/gpu_pool.py).

``GpuLease`` queues for devices until granted, then, as a context manager, renews the lease
in the background through long-polling watches and sets ``preempted`` (a higher-priority
holder waits: checkpoint and yield before ``state.yield_by``) or ``revoked`` (the lease is
gone: revoked, expired, or not renewed for a whole ttl because the coordinator was out of
reach) as it learns; it releases on exit.

Every call is an update-with-start (conflict policy USE_EXISTING), so the first holder of a
pool starts its coordinator and every call reaches the run current at that moment, also
after the coordinator continued as new. Transient failures (an RPC error, a call that met a
run closing for continue-as-new) are retried with backoff; a refusal by the coordinator's
validator is not (``LeaseRefused``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from naestro import names
from naestro.config.settings import GpuConfig, Settings, pool_workflow_id
from naestro.contracts.gpu import HELD, LeaseCall, LeaseRequest, LeaseState, PoolConfig

log = logging.getLogger(__name__)
OnWait = Callable[[LeaseState | None], None]
# Retrying these cannot help: the request or the credentials are wrong.
_FINAL = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.UNIMPLEMENTED,
}
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0


def pool_config(gpu: GpuConfig, pool: str | None = None) -> PoolConfig:
    """What a pool's coordinator is started with (by whoever reaches it first)."""
    return PoolConfig(pool=pool or gpu.pool, preempt_grace_seconds=gpu.preempt_grace_seconds)


def lease_for(
    client: Client,
    settings: Settings,
    holder: str,
    devices: list[str],
    priority: int,
    purpose: str,
    *,
    pool: str | None = None,
    preemptible: bool = True,
) -> GpuLease:
    """A lease on ``devices`` of ``pool`` (default: this node's) with the settings' ttl."""
    gpu = settings.gpu
    ttl = gpu.lease_ttl_seconds
    request = LeaseRequest(
        holder=holder,
        devices=devices,
        priority=priority,
        purpose=purpose,
        preemptible=preemptible,
        ttl_seconds=ttl,
        wait_seconds=min(10.0, ttl / 3),
    )
    config = pool_config(gpu, pool)
    return GpuLease(client, config.pool, request, settings.queues.orchestrator, config)


class LeaseRefused(Exception):
    """The coordinator refused the request (its validator said why)."""


class GpuLease:
    def __init__(
        self,
        client: Client,
        pool: str,
        request: LeaseRequest,
        task_queue: str,
        config: PoolConfig,
    ) -> None:
        self._client, self._pool, self.request = client, pool, request
        self._queue, self._config = task_queue, config
        self.state: LeaseState | None = None
        self.preempted = asyncio.Event()
        self.revoked = asyncio.Event()
        self._renewed = 0.0  # monotonic time of the last answer
        self._watcher: asyncio.Task[None] | None = None

    @property
    def holder(self) -> str:
        return self.request.holder

    @property
    def fence(self) -> int:
        return self.state.fence if self.state is not None else 0

    async def acquire(self, on_wait: OnWait | None = None) -> LeaseState:
        """Queue (keeping the place by calling again) until granted. ``on_wait`` is called
        after every answer that is not a grant, and on every retry (heartbeats)."""
        while True:
            state = await self._call(names.GPU_ACQUIRE_UPDATE, self.request, on_wait)
            if state.status in HELD:
                self.preempted.clear()
                self.revoked.clear()
                return state
            if on_wait is not None:
                on_wait(state)

    async def release(self) -> LeaseState | None:
        """Give the lease (or the place in the queue) back; a coordinator out of reach for a
        whole ttl lets it expire instead."""
        call = LeaseCall(holder=self.holder, wait_seconds=0)
        try:
            return await asyncio.wait_for(
                self._call(names.GPU_RELEASE_UPDATE, call), self.request.ttl_seconds
            )
        except (TimeoutError, LeaseRefused, RPCError) as exc:
            log.warning("GPU lease %s not released (it expires): %s", self.holder, exc)
            return None

    async def __aenter__(self) -> GpuLease:
        if self.state is None or self.state.status not in HELD:
            await self.acquire()
        self._watcher = asyncio.create_task(self._watch(), name=f"gpu-lease-{self.holder}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_watching()
        await self.release()

    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    # ------------------------------------------------------------ the watcher

    async def _watch(self) -> None:
        """Renew until the lease ends; each answer says whether to yield."""
        call = LeaseCall(holder=self.holder, wait_seconds=self.request.wait_seconds)
        pause = min(self.request.wait_seconds, self.request.ttl_seconds / 3) or 0.5
        while True:
            try:
                ttl_left = self.request.ttl_seconds - (time.monotonic() - self._renewed)
                state = await asyncio.wait_for(
                    self._call(names.GPU_WATCH_UPDATE, call), max(ttl_left, 0.001)
                )
            except TimeoutError:  # not renewed for a whole ttl: assume it is gone
                self._lost("not renewed within its ttl (coordinator out of reach)")
                return
            except LeaseRefused as exc:
                self._lost(str(exc))
                return
            if state.status not in HELD:
                self.revoked.set()
                return
            if state.status == "preempt":
                self.preempted.set()
                await asyncio.sleep(pause)  # answered at once while asked to yield: renew only
            else:
                self.preempted.clear()

    def _lost(self, why: str) -> None:
        log.warning("GPU lease %s lost: %s", self.holder, why)
        if self.state is not None:
            self.state = self.state.model_copy(update={"status": "expired", "detail": why})
        self.revoked.set()

    # ------------------------------------------------------------ calls

    async def _call(self, update: str, arg: Any, on_wait: OnWait | None = None) -> LeaseState:
        delay = BACKOFF_FIRST
        while True:
            try:
                state = await self._update(update, arg)
            except WorkflowUpdateFailedError as err:
                if isinstance(err.cause, ApplicationError):
                    raise LeaseRefused(f"pool {self._pool}: {err.cause.message}") from None
                why: BaseException = err.cause or err  # e.g. the run closed under it
            except WorkflowUpdateRPCTimeoutOrCancelledError as err:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # the SDK's name for our cancel
                    raise asyncio.CancelledError from err
                why = err
            except RPCError as err:
                if err.status in _FINAL:
                    raise
                why = err
            else:
                self.state, self._renewed = state, time.monotonic()
                return state
            log.info("GPU pool %s: %s failed (%s); retrying", self._pool, update, why)
            if on_wait is not None:
                on_wait(self.state)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _update(self, update: str, arg: Any) -> LeaseState:
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            names.GPU_POOL_WORKFLOW,
            self._config,
            id=pool_workflow_id(self._pool),
            task_queue=self._queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"GPU pool {self._pool}: leases and preemption",
        )
        try:
            result = await self._client.execute_update_with_start_workflow(
                update, arg, start_workflow_operation=start, result_type=LeaseState
            )
        finally:
            _settle(start)
        return cast(LeaseState, result)


def _settle(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Mark a failed start's handle as seen: the SDK leaves its exception (a cancelled
    call's too) unretrieved, and asyncio would log it."""
    future = start._workflow_handle
    if future.done() and not future.cancelled():
        future.exception()
