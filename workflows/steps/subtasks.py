"""TaskWorkflow's fan-out: a structured plan's subtasks run as child TaskWorkflows.

Independent subtasks run in parallel (at most the policy's ``max_parallel`` at once); a
dependent one starts when its prerequisites succeeded, with their results in its prompt,
and is skipped (reported, never dropped) when one of them did not. Each child gets the
parent's tenant, policy (so its PII policy) and priority, and its own share of what the
parent had left; the share is held in the parent's ledger while the child runs, so the
parent's own calls (a re-plan) cannot spend it, and the child's calls join the parent's
ledger when it ends. A subtask that does not succeed is run again as it was, re-planned
once with its failure, or reported, as the policy says. A cancel cancels every child.
Deterministic: child workflows, timers and the parent's own calls only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

from naestro import names, plans, search
from naestro.contracts import (
    Subtask,
    SubtaskOf,
    SubtaskOutcome,
    SubtaskPolicy,
    SubtaskStatusName,
    TaskPlan,
    TaskRequest,
    TaskResult,
)
from naestro.ledger import LedgerBook, Reservation
from workflows.steps.approval import ProgressLog

Replan = Callable[[Subtask, SubtaskOutcome], Awaitable[Subtask]]


class FanOutCancelled(Exception):
    """The parent was cancelled while its subtasks ran (they were cancelled too)."""

    def __init__(self, reason: str, outcomes: list[SubtaskOutcome]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcomes = outcomes


@dataclass
class _Run:
    subtask: Subtask
    attempt: int
    child_id: str
    hold: Reservation
    future: asyncio.Task[TaskResult]


@dataclass
class FanOut:
    parent: TaskRequest
    task_id: str
    policy: SubtaskPolicy
    book: LedgerBook
    log: ProgressLog
    deadline: datetime
    cancelled: Callable[[], str | None]
    replan: Replan
    shadow: bool = False  # a rollout's mirror task: its children are mirrors too
    outcomes: dict[str, SubtaskOutcome] = field(default_factory=dict)
    _attempts: dict[str, int] = field(default_factory=dict)
    _replanned: set[str] = field(default_factory=set)
    _spent: dict[str, tuple[int, float]] = field(default_factory=dict)  # over all its runs

    async def run(self, plan: TaskPlan) -> list[SubtaskOutcome]:
        """Every subtask's outcome, in the plan's order."""
        order = [s.id for s in plan.subtasks]
        shares = plans.Shares.of(
            self.book.tokens_left(),
            self.book.usd_left(),
            self.book.gpu_seconds_left(),
            len(plan.subtasks),
            self.policy,
        )
        waiting: dict[str, Subtask] = {s.id: s for s in plan.subtasks}
        running: dict[str, _Run] = {}
        while waiting or running:
            self._skip_blocked(waiting)
            for subtask in self._ready(waiting)[: self.policy.max_parallel - len(running)]:
                del waiting[subtask.id]
                run = self._start(subtask, shares)
                if run is not None:
                    running[subtask.id] = run
            if not running:
                if waiting and not self._ready(waiting):
                    raise AssertionError("subtasks wait on each other: the plan is not a DAG")
                continue
            await workflow.wait_condition(
                lambda: (
                    any(r.future.done() for r in running.values()) or self.cancelled() is not None
                )
            )
            if self.cancelled() is not None:
                await self._cancel_all(running, waiting)
                raise FanOutCancelled(self.cancelled() or "cancelled", self._ordered(order))
            for sid in [sid for sid, r in running.items() if r.future.done()]:
                again = await self._finish(running.pop(sid))
                if again is not None:
                    waiting[again.id] = again
        return self._ordered(order)

    # ------------------------------------------------------------ scheduling

    def _ready(self, waiting: dict[str, Subtask]) -> list[Subtask]:
        return [s for s in waiting.values() if all(self._succeeded(d) for d in s.depends_on)]

    def _succeeded(self, sid: str) -> bool:
        done = self.outcomes.get(sid)
        return done is not None and done.status == "succeeded"

    def _skip_blocked(self, waiting: dict[str, Subtask]) -> None:
        """A subtask whose prerequisite ended without success never runs: reported."""
        changed = True
        while changed:
            changed = False
            for s in list(waiting.values()):
                failed = [
                    d
                    for d in s.depends_on
                    if d in self.outcomes and self.outcomes[d].status != "succeeded"
                ]
                if failed:
                    del waiting[s.id]
                    reason = f"prerequisite {', '.join(failed)} did not succeed"
                    self._record(s, "skipped", reason=reason)
                    changed = True

    def _start(self, subtask: Subtask, shares: plans.Shares) -> _Run | None:
        attempt = self._attempts.get(subtask.id, 0) + 1
        self._attempts[subtask.id] = attempt
        tokens, usd, gpu = shares.grant(
            self.book.tokens_left(), self.book.usd_left(), self.book.gpu_seconds_left()
        )
        if tokens < plans.MIN_SUBTASK_TOKENS:
            reason = f"no budget left for it ({max(0, tokens)} tokens of its share)"
            self._record(subtask, "budget_exhausted", reason=reason, attempts=attempt - 1)
            return None
        wall = int((self.deadline - workflow.now()).total_seconds())
        request = TaskRequest(
            prompt=plans.child_prompt(subtask, self._prerequisites(subtask)),
            kind=subtask.kind or self.parent.kind,
            priority=self.parent.priority,
            budget=plans.child_budget(self.parent.budget, tokens, usd, gpu, wall),
            policy=self.parent.policy,
            tenant=self.parent.tenant,
            subtask_of=SubtaskOf(
                parent_id=self.task_id, subtask_id=subtask.id, plan=plans.child_plan(subtask)
            ),
        )
        child_id = f"{self.task_id}-{subtask.id}-{attempt}"
        hold = self.book.hold(tokens, usd, gpu or 0.0)
        future = asyncio.ensure_future(
            workflow.execute_child_workflow(
                names.TASK_WORKFLOW,
                request,
                id=child_id,
                result_type=TaskResult,
                task_queue=workflow.info().task_queue,
                static_summary=f"subtask {subtask.id}: {subtask.title}"[:200],
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                priority=Priority(priority_key=self.parent.priority),
                execution_timeout=timedelta(seconds=max(1, wall) + 300),
                # Listed, tenant-checked and filterable by policy from its start, as a task
                # started through naestro.client is (it then need not upsert them itself).
                search_attributes=search.initial(
                    request.kind,
                    request.tenant,
                    request.priority,
                    policy=request.policy,
                    shadow=self.shadow,
                ),
            )
        )
        self.log.emit("subtask", event="started", id=subtask.id, attempt=attempt, task_id=child_id)
        return _Run(subtask, attempt, child_id, hold, future)

    def _prerequisites(self, subtask: Subtask) -> list[SubtaskOutcome]:
        return [self.outcomes[d] for d in subtask.depends_on if d in self.outcomes]

    async def _finish(self, run: _Run) -> Subtask | None:
        """Book a child's end; the subtask to run again, if the policy says so."""
        self.book.release(run.hold)
        status: SubtaskStatusName
        try:
            result = run.future.result()
        except ChildWorkflowError as err:
            status, reason, answer = "failed", str(err.cause or err), ""
            tokens, usd = 0, 0.0
        else:
            self.book.absorb(result.trace)
            reason, answer = result.reason, result.answer
            status = "failed" if result.status == "running" else result.status  # never "running"
            tokens, usd = result.spend.tokens, result.spend.usd
        before = self._spent.get(run.subtask.id, (0, 0.0))
        self._spent[run.subtask.id] = (before[0] + tokens, before[1] + usd)
        outcome = self._record(
            run.subtask,
            status,
            reason=reason,
            answer=answer,
            attempts=run.attempt,
            task_id=run.child_id,
        )
        if status == "succeeded":
            return None
        step = plans.next_step(status, run.attempt, self.policy)
        if step == "report":
            return None
        del self.outcomes[run.subtask.id]  # it runs again: no outcome yet
        if step == "retry":
            return run.subtask
        self._replanned.add(run.subtask.id)
        return await self.replan(run.subtask, outcome)

    def _record(
        self,
        subtask: Subtask,
        status: SubtaskStatusName,
        *,
        reason: str = "",
        answer: str = "",
        attempts: int = 0,
        task_id: str = "",
    ) -> SubtaskOutcome:
        tokens, usd = self._spent.get(subtask.id, (0, 0.0))
        outcome = SubtaskOutcome(
            id=subtask.id,
            title=subtask.title,
            status=status,
            task_id=task_id,
            attempts=attempts,
            replanned=subtask.id in self._replanned,
            depends_on=subtask.depends_on,
            answer=answer[: plans.MAX_ANSWER_CHARS],
            reason=reason,
            tokens=tokens,
            usd=usd,
        )
        self.outcomes[subtask.id] = outcome
        self.log.emit(
            "subtask",
            event="ended",
            id=subtask.id,
            status=status,
            attempt=attempts,
            reason=reason[:200],
        )
        return outcome

    async def _cancel_all(self, running: dict[str, _Run], waiting: dict[str, Subtask]) -> None:
        """Cancel every running child and wait for them to end; nothing else starts."""
        for run in running.values():
            run.future.cancel()
        for run in running.values():
            try:
                await run.future
            except (asyncio.CancelledError, ChildWorkflowError):
                pass
            self.book.release(run.hold)
            self._record(
                run.subtask,
                "cancelled",
                reason="the task was cancelled",
                attempts=run.attempt,
                task_id=run.child_id,
            )
        for s in waiting.values():
            self._record(s, "cancelled", reason="the task was cancelled before it started")
        running.clear()
        waiting.clear()

    def _ordered(self, order: list[str]) -> list[SubtaskOutcome]:
        return [self.outcomes[sid] for sid in order if sid in self.outcomes]
