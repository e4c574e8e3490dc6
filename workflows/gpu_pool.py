"""GpuPoolWorkflow: the GPU semaphore of one pool (a node), with preemption.

One per pool (id ``naestro-gpu-pool-<pool>``, started by the first holder's update-with-
start), living forever. GPU jobs that are not model calls (evaluation, batch embedding,
fine-tuning) take a lease on whole devices here (activities/gpu/lease.py is the holder's
side). The rules are the pure LeaseBook's (naestro/gpu_leases.py); this module is wiring:

* ``gpu_acquire`` queues (or renews) a holder and waits up to ``wait_seconds`` for its
  grant; a caller answered ``queued`` calls again, which also keeps its place;
* ``gpu_watch`` renews a lease and waits up to ``wait_seconds`` for news (asked to yield,
  revoked, expired), answering at once when there is some;
* ``gpu_release`` ends a lease or a place in the queue;
* ``gpu_health`` (signal) keeps the pool's last GPU health report; ``gpu_pool`` (query)
  shows leases, queue, counters and that report.

The run wakes on every change that moves the next deadline earlier and at that deadline (a
durable timer), so an expiry or a revocation happens even when nobody calls. Long-polling
handlers make the history grow; past a few thousand events (or when the server suggests
it) the run stops letting handlers wait, waits until all have answered, and continues as
new carrying the book and the health report. A caller that meets the closed run retries
and reaches the new one.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.common import VersioningBehavior

from naestro import names
from naestro.contracts.gpu import (
    GpuHealthReport,
    LeaseCall,
    LeaseRequest,
    LeaseState,
    PoolConfig,
    PoolView,
)
from naestro.gpu_leases import LeaseBook


@workflow.defn(
    name=names.GPU_POOL_WORKFLOW,
    # It never ends, so it must move to new code: its open history has to replay on every
    # version (tests/gpu/test_pool.py replays fresh ones, a continued run's included).
    versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
)
class GpuPoolWorkflow:
    @workflow.init
    def __init__(self, config: PoolConfig) -> None:
        self._config = config
        grace = config.preempt_grace_seconds
        book = config.book
        self._book = LeaseBook.restore(book, grace) if book else LeaseBook(grace)
        self._health: GpuHealthReport | None = config.health
        self._armed: float | None = None  # the deadline the run's timer waits for
        self._rearm = False
        self._closing = False  # continuing as new: handlers answer without waiting

    # ------------------------------------------------------------ handlers

    @workflow.update(name=names.GPU_ACQUIRE_UPDATE)
    async def acquire(self, request: LeaseRequest) -> LeaseState:
        holder = request.holder
        self._apply(holder, lambda now: self._book.acquire(request, now))
        await self._wait(lambda: self._book.state(holder).status != "queued", request.wait_seconds)
        return self._apply(holder, lambda now: self._book.watch(holder, now))

    @acquire.validator
    def _check_acquire(self, request: LeaseRequest) -> None:
        if request.ttl_seconds < request.wait_seconds:
            raise ValueError(
                f"ttl_seconds {request.ttl_seconds:g} is below wait_seconds "
                f"{request.wait_seconds:g}: the place would expire while its caller waits"
            )
        if len(set(request.devices)) != len(request.devices):
            raise ValueError(f"a device is named twice: {request.devices}")
        known = self._book.state(request.holder)
        if known.status in ("queued", "granted", "preempt") and known.devices != request.devices:
            raise ValueError(
                f"holder {request.holder} already has {known.devices} ({known.status}); "
                "one holder, one set of devices"
            )

    @workflow.update(name=names.GPU_WATCH_UPDATE)
    async def watch(self, call: LeaseCall) -> LeaseState:
        holder = call.holder
        state = self._apply(holder, lambda now: self._book.watch(holder, now))
        if state.status == "granted":
            await self._wait(
                lambda: self._book.state(holder).status != "granted", call.wait_seconds
            )
        return self._apply(holder, lambda now: self._book.watch(holder, now))

    @workflow.update(name=names.GPU_RELEASE_UPDATE)
    async def release(self, call: LeaseCall) -> LeaseState:
        return self._apply(call.holder, lambda now: self._book.release(call.holder, now))

    @workflow.signal(name=names.GPU_HEALTH_SIGNAL)
    def health(self, report: GpuHealthReport) -> None:
        self._health = report

    @workflow.query(name=names.GPU_POOL_QUERY)
    def view(self) -> PoolView:
        book = self._book
        return PoolView(
            pool=self._config.pool,
            health=self._health,
            leases=book.leases(),
            queued=book.queue(),
            grants=book.grants,
            preemptions=book.preemptions,
            expired=book.expired,
            revoked=book.revoked,
        )

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, config: PoolConfig) -> None:
        while not self._closing:
            await self._sleep_until_due()
            self._book.schedule(workflow.time())
            self._closing = self._runs_long()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = config.model_copy(update={"book": self._book.snapshot(), "health": self._health})
        workflow.continue_as_new(carried)

    async def _sleep_until_due(self) -> None:
        """Until the book's next deadline, a change that brings it earlier, or the time to
        continue as new."""
        now = workflow.time()
        self._armed, self._rearm = self._book.next_deadline(now), False
        if self._armed is not None and self._armed <= now:
            return
        timeout = None if self._armed is None else self._armed - now
        try:
            await workflow.wait_condition(lambda: self._rearm or self._runs_long(), timeout=timeout)
        except TimeoutError:
            return

    # ------------------------------------------------------------ plumbing

    def _apply(self, holder: str, change: Callable[[float], LeaseState]) -> LeaseState:
        """One holder's call between two applications of the rules (a lease past its
        deadline ends before its late renewal could revive it)."""
        now = workflow.time()
        self._book.schedule(now)
        change(now)
        self._book.schedule(now)
        deadline = self._book.next_deadline(now)
        if deadline is not None and (self._armed is None or deadline < self._armed):
            self._rearm = True
        return self._book.state(holder)

    async def _wait(self, news: Callable[[], bool], seconds: float) -> None:
        if self._closing or seconds <= 0:
            return
        try:
            await workflow.wait_condition(lambda: news() or self._closing, timeout=seconds)
        except TimeoutError:
            return

    def _runs_long(self) -> bool:
        """Past ``max_events`` (well below the server's limits: a pool lives for months and
        every long poll adds a few events), or when the server suggests it."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._config.max_events
        )
