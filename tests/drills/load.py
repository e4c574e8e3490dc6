"""A drill's load: N concurrent tasks on real workers, a fault while they run, and the
accounting once the fault is cleared (every task terminal, none lost, no side effect twice,
how long recovery took).

A drill names its fault's two moments: ``faulted()`` when it injects it, ``cleared()`` when
it clears it. Progress after the clear is a new model call reaching the provider or a task
closing, unless the drill gives a progress measure of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from naestro.client import start_task
from naestro.contracts import TaskRequest, TaskResult, VerificationReport
from tests.drills.report import Row

MODEL_CALL = "naestro.model.complete"
VERIFY = "naestro.sandbox.verify"
Calls = Callable[[], Counter[str]]  # model calls that reached the provider, per task id
Progress = Callable[[], Awaitable[int]]  # grows when the system makes progress
RUNNING = WorkflowExecutionStatus.RUNNING


def prompt(drill: str, number: int) -> str:
    """Each task's prompt is its own (so memory keeps one answer per task), and a wire
    server finds the task in a request by its marker ``task <n>:``."""
    return f"Drill {drill}, task {number}: write one friendly sentence about reliability."


@dataclass
class Outcome:
    """How one task ended."""

    task_id: str
    status: str  # the TaskResult's status, or the workflow's close status
    reason: str
    result: TaskResult | None = None


@dataclass
class Load:
    client: Client
    queue: str
    drill: str
    n: int
    calls: Calls
    ids: list[str] = field(default_factory=list)
    fault_at: float = 0.0
    clear_at: float = 0.0
    _closed_at_fault: int = 0
    _progress_at_clear: int = 0

    async def start(self, request: Callable[[int], TaskRequest] | None = None) -> None:
        make = request or (lambda i: TaskRequest(prompt=prompt(self.drill, i)))
        run = uuid.uuid4().hex[:8]
        for i in range(self.n):
            handle = await start_task(
                self.client, make(i), task_id=f"drill-{self.drill}-{run}-{i}", task_queue=self.queue
            )
            self.ids.append(handle.id)

    async def until_calls(self, count: int, within_s: float = 60) -> None:
        """Wait until ``count`` model calls have reached the provider (the load is running)."""
        deadline = time.monotonic() + within_s
        while sum(self.calls().values()) < count:
            assert time.monotonic() < deadline, f"only {sum(self.calls().values())} calls"
            await asyncio.sleep(0.05)

    async def faulted(self) -> None:
        self.fault_at = time.monotonic()
        self._closed_at_fault = await self._closed()

    async def cleared(self) -> None:
        """The fault is gone: progress counts from here (tasks that closed during the fault
        are not progress after it; with the server down they could not close)."""
        self.clear_at = time.monotonic()
        calls = sum(self.calls().values())
        self._progress_at_clear = calls + max(self._closed_at_fault, await self._closed())

    async def recovery(
        self, within_s: float, progress: Progress | None = None
    ) -> tuple[float, float]:
        """Seconds from the clear to the first progress and to every task closed (both
        ``within_s`` when it never came: the accounting then finds the open tasks)."""
        measure = progress or self._progress
        base = await measure() if progress else self._progress_at_clear
        first: float | None = None
        deadline = self.clear_at + within_s
        while True:
            now = time.monotonic()
            if first is None and await measure() > base:
                first = now - self.clear_at
            if await self._closed() == self.n:
                done = time.monotonic() - self.clear_at
                return (done if first is None else first), done
            if now > deadline:
                return (within_s if first is None else first), within_s
            await asyncio.sleep(0.2)

    async def _progress(self) -> int:
        return sum(self.calls().values()) + await self._closed()

    async def _closed(self) -> int:
        statuses = await asyncio.gather(*(self._status(i) for i in self.ids))
        return sum(1 for s in statuses if s is not None and s != RUNNING)

    async def _status(self, task_id: str) -> WorkflowExecutionStatus | None:
        try:
            return (await self.client.get_workflow_handle(task_id).describe()).status
        except RPCError:
            return None  # the server is down or the task unknown: not closed

    async def outcomes(self) -> list[Outcome]:
        return [await self._outcome(i) for i in self.ids]

    async def _outcome(self, task_id: str) -> Outcome:
        status = await self._status(task_id)
        if status is None or status == RUNNING:
            return Outcome(task_id, "open" if status else "missing", "")
        handle = self.client.get_workflow_handle(task_id, result_type=TaskResult)
        try:
            result = await handle.result()
        except WorkflowFailureError as err:
            return Outcome(task_id, status.name.lower(), str(err.cause or err))
        return Outcome(task_id, result.status, result.reason, result)

    async def listed(self) -> set[str]:
        """Every TaskWorkflow the server holds on the load's queue."""
        query = f'TaskQueue="{self.queue}"'
        return {w.id async for w in self.client.list_workflows(query)}

    async def model_attempts(self, task_id: str) -> tuple[int, int]:
        """(model calls that completed, attempts of every model call) from the task's
        history: a call's started event carries its last attempt's number."""
        history = await self.client.get_workflow_handle(task_id).fetch_history()
        model_calls: set[int] = set()
        completed, attempts = 0, 0
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if e.activity_task_scheduled_event_attributes.activity_type.name == MODEL_CALL:
                    model_calls.add(e.event_id)
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started = e.activity_task_started_event_attributes
                if started.scheduled_event_id in model_calls:
                    attempts += started.attempt
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = e.activity_task_completed_event_attributes
                completed += done.scheduled_event_id in model_calls
        return completed, attempts

    async def verifications(self, task_id: str) -> list[VerificationReport]:
        """The reports of the task's sandbox runs, in order, decoded from its history."""
        history = await self.client.get_workflow_handle(task_id).fetch_history()
        runs: set[int] = set()
        reports: list[VerificationReport] = []
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                if e.activity_task_scheduled_event_attributes.activity_type.name == VERIFY:
                    runs.add(e.event_id)
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = e.activity_task_completed_event_attributes
                if done.scheduled_event_id in runs:
                    payloads = list(done.result.payloads)
                    [report] = await self.client.data_converter.decode(
                        payloads, [VerificationReport]
                    )
                    reports.append(report)
        return reports


@dataclass
class Ledger:
    """What a drill counted: each finding a line for the report's notes."""

    lost: int = 0
    duplicated: int = 0
    reran: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


async def account(load: Load, outcomes: list[Outcome]) -> Ledger:
    """Nothing lost (every started id is on the server and closed, no other id appeared)
    and no model call ran more often than its activity's attempts allow."""
    ledger = Ledger()
    listed = await load.listed()
    for o in outcomes:
        if o.status in ("open", "missing") or o.task_id not in listed:
            ledger.lost += 1
            ledger.note(f"{o.task_id}: {o.status}")
    reasons = Counter(o.reason[:160] for o in outcomes if o.status != "succeeded")
    for reason, n in reasons.items():
        ledger.note(f"{n} ended with: {reason}")
    extra = listed - set(load.ids)
    if extra:
        ledger.duplicated += len(extra)
        ledger.note(f"workflows nobody started: {sorted(extra)}")
    calls = load.calls()
    for o in outcomes:
        completed, attempts = await load.model_attempts(o.task_id)
        made = calls[o.task_id]
        if made > attempts:
            ledger.duplicated += made - attempts
            ledger.note(f"{o.task_id}: {made} provider calls, {attempts} attempts in history")
        ledger.reran += max(0, min(made, attempts) - completed)
    return ledger


def row(drill: str, outcomes: list[Outcome], ledger: Ledger, recovery: tuple[float, float]) -> Row:
    counts = Counter(o.status for o in outcomes)
    return Row(
        drill=drill,
        tasks=len(outcomes),
        outcomes=", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        lost=ledger.lost,
        duplicated=ledger.duplicated,
        reran_in_flight=ledger.reran,
        first_progress_s=round(recovery[0], 1),
        all_done_s=round(recovery[1], 1),
        notes="; ".join(ledger.notes),
    )


def assert_terminal(outcomes: list[Outcome]) -> None:
    """Every task closed, and one that did not succeed says why."""
    for o in outcomes:
        assert o.status not in ("open", "missing"), f"{o.task_id} is {o.status}"
        if o.status != "succeeded":
            assert o.reason.strip(), f"{o.task_id} ended {o.status} with no reason"
