"""ResearchWorkflow: a goal worked on in iterations for hours or days, steered while it runs.

One iteration: apply the queued steering commands -> plan questions (when fewer than
``questions_per_iteration`` are open) -> gather them (memory search and one implementer
call each, or a child TaskWorkflow) -> store the findings (Postgres) -> the judge scores
progress -> stop, or wait for the cadence timer (a durable timer a command wakes). Then
the final report, with its citations. The arithmetic lives in naestro/research/.

A run continues as new after ``iterations_per_run`` iterations, when the server suggests
it, or before its history could pass the bound in naestro/research/state.py, carrying the
state by reference (findings' heads and counts; their text stays in Postgres) and the
steering commands not yet applied.

Search attributes: NaestroKind "research"; NaestroStatus running | waiting | paused |
reporting while it runs, then succeeded (converged) | stopped (a person stopped it) |
budget_exhausted (tokens or USD, iterations or hours spent) | unconverged (no questions
left before convergence) | failed; NaestroPhase its step (plan, gather, judge, wait,
paused, digest, report, done); NaestroCostUsd after every iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

from naestro import names, search
from naestro.contracts import (
    CallRoute,
    JudgeVerdict,
    ModelCall,
    ModelResponse,
    PiiScanResult,
    PolicySpec,
    TaskEvent,
    TaskRequest,
)
from naestro.contracts.research import (
    Finding,
    PlannedQuestions,
    Question,
    ResearchInput,
    ResearchResult,
    ResearchState,
    ResearchStatusName,
    ResearchView,
    SteerCommand,
    SteerOutcome,
    StopReason,
)
from naestro.ledger import LedgerBook
from naestro.pii import exposure
from naestro.pii.redaction import with_placeholders
from naestro.research import prompts, steering
from naestro.research import state as job
from workflows.steps import privacy as privacy_steps
from workflows.steps import research as steps
from workflows.steps.approval import ProgressLog
from workflows.steps.calls import BUDGET_ERROR, ModelCaller

T = TypeVar("T")
REPORT_CHARS = 24_000  # the findings' text the final report is written from (newest kept)


class _OutOfBudget(Exception):
    """A call found the job's budget (tokens, USD or wall time) spent."""


@workflow.defn(
    name=names.RESEARCH_WORKFLOW,
    failure_exception_types=[ApplicationError],
    # It runs for days: it moves to new code at continue-as-new and between workflow
    # tasks, so every change to it needs workflow.patched (tests/test_replay.py).
    versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
)
class ResearchWorkflow:
    @workflow.init
    def __init__(self, given: ResearchInput) -> None:
        self._request = given.request
        self._state = given.state or job.start(given.request, workflow.now())
        self._prior = self._state.spend  # what earlier runs spent
        self._log = ProgressLog(self._state.event_seq)
        self._status: ResearchStatusName = "running"
        self._phase = "start"  # as the client sets it (search.research_initial)
        self._stop: StopReason = ""
        self._in_iteration = False
        self._gathering: set[str] = set()
        self._book = LedgerBook(max_tokens=1, max_usd=0.0)
        self._caller: ModelCaller | None = None
        self._store: steps.Store | None = None
        self._spec: PolicySpec | None = None
        self._pii = PiiScanResult(redacted="")
        self._ran = 0  # iterations in this run
        self._largest = job.HistoryUse()  # the largest iteration's history in this run

    # ------------------------------------------------------------ handlers

    @workflow.query(name=names.RESEARCH_QUERY)
    def view(self) -> ResearchView:
        where = (self._status, self._phase, self._stop)
        return job.view(self._live(), workflow.info().workflow_id, *where)

    @workflow.query(name=names.EVENTS_QUERY)
    def events(self, after: int) -> list[TaskEvent]:
        return self._log.after(after)

    @workflow.update(name=names.RESEARCH_STEER_UPDATE)
    async def steer(self, command: SteerCommand) -> SteerOutcome:
        """Queue a command for the next iteration (a cadence wait ends at once)."""
        applies_at = self._state.iteration + (2 if self._in_iteration else 1)
        self._state, outcome = steering.accept(self._state, command, workflow.now(), applies_at)
        data = command.model_dump(mode="json", exclude_defaults=True)
        self._log.emit("steer", **data, message=outcome.message, applies_at=applies_at)
        return outcome

    @steer.validator
    def _check_steer(self, command: SteerCommand) -> None:
        steering.check(self._live(), command, self._status, self._gathering)

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, given: ResearchInput) -> ResearchResult:
        workflow.upsert_search_attributes(
            [
                search.KIND.value_set(search.RESEARCH_KIND),
                search.TENANT.value_set(self._request.tenant),
                search.PRIORITY.value_set(self._request.priority),
                search.STATUS.value_set("running"),
            ]
        )
        try:
            await self._prepare()
            reason = await self._loop()
            if reason is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried = self._live().model_copy(update={"run": self._state.run + 1})
                workflow.continue_as_new(ResearchInput(request=self._request, state=carried))
            result = await self._finish(reason)
        except ApplicationError as err:
            workflow.upsert_search_attributes([search.STATUS.value_set("failed")])
            self._log.emit("status", status="failed", reason=err.message)
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _prepare(self) -> None:
        """The goal's PII scan, the policy, the store and this run's share of the budget."""
        await self._scan()
        self._spec = spec = await steps.resolve_policy(self._request, self._state.goal, self._pii)
        if spec.memory_task_queue is None:
            raise ApplicationError(
                steps.NEEDS_MEMORY, type="ResearchConfigError", non_retryable=True
            )
        job_id = workflow.info().workflow_id
        self._store = steps.Store(job_id, self._request.tenant, spec.memory_task_queue)
        tokens, usd = job.run_limits(self._state, self._prior)
        self._book = LedgerBook(max_tokens=tokens, max_usd=usd)
        deadline = job.deadline(self._state)
        scope = steps.call_scope(spec, self._request, job_id, self._pii, deadline)
        self._caller = ModelCaller(scope, self._book, self._on_call)

    async def _loop(self) -> StopReason | None:
        """Iterations until one of the stop rules holds (its reason), or None when this
        run is to continue as new."""
        while True:
            if self._time_to_continue():
                return None
            await self._apply_pending()
            reason = job.limit_reason(self._state, workflow.now())
            if reason is not None:
                return reason
            if self._state.paused:
                await self._hold()
            elif await self._due():
                reason = await self._iteration()
                if reason is not None:
                    return reason

    async def _iteration(self) -> StopReason | None:
        before = self._history()
        self._in_iteration = True
        try:
            return await self._iterate(self._state.iteration + 1)
        except _OutOfBudget:  # the wall time is the time budget's
            return "time" if workflow.now() >= job.deadline(self._state) else "budget"
        finally:
            self._in_iteration, self._gathering = False, set()
            self._ran += 1
            self._largest = self._largest.largest(self._history().minus(before))

    async def _iterate(self, n: int) -> StopReason | None:
        await self._plan(n)
        batch = job.open_questions(self._state)[: self._request.questions_per_iteration]
        if not batch:
            return "no_questions"
        findings, errors = await self._gather(n, batch)
        await self._save(n, findings)
        if errors:
            raise errors[0]
        if len(findings) < len(batch):  # a call found the budget spent
            return "budget"
        score = await self._judge()
        cadence = timedelta(seconds=self._request.cadence_seconds)
        self._state = job.record_progress(self._state, score).model_copy(
            update={"next_at": workflow.now() + cadence}
        )
        spent = self._live().spend
        self._log.emit(
            "iteration",
            iteration=n,
            questions=[q.id for q in batch],
            findings=self._state.findings,
            score=score,
            spend=spent.model_dump(mode="json"),
        )
        workflow.upsert_search_attributes([search.COST.value_set(spent.usd)])
        return "converged" if job.converged(self._state, self._request.convergence) else None

    # ------------------------------------------------------------ steps

    async def _plan(self, n: int) -> None:
        """New questions from the planner when fewer than an iteration's worth are open."""
        want = self._request.questions_per_iteration - len(job.open_questions(self._state))
        if want <= 0:
            return
        self._set_phase("plan")
        s = self._state
        messages = prompts.plan(s.goal, s.questions, s.recent, want)
        reply = await self._ask(
            self._calls.structured(PlannedQuestions, "planner", "plan", messages)
        )
        self._state, _ = job.add_questions(self._state, reply.questions[:want], "planner", n)

    async def _gather(
        self, n: int, batch: list[Question]
    ) -> tuple[list[Finding], list[BaseException]]:
        """The batch's answers, in parallel: the findings, and the errors other than a
        spent budget (raised once the findings are stored)."""
        self._set_phase("gather")
        self._gathering = {q.id for q in batch}
        results: list[Finding | BaseException]
        if self._request.gather_with_tasks:
            asks = [self._as_task(n, q, len(batch)) for q in batch]
            results = list(await asyncio.gather(*asks, return_exceptions=True))
        else:
            results = await self._answer_all(n, batch)
        findings = [r for r in results if isinstance(r, Finding)]
        errors = [
            r for r in results if isinstance(r, BaseException) and not isinstance(r, _OutOfBudget)
        ]
        return findings, errors

    async def _answer_all(self, n: int, batch: list[Question]) -> list[Finding | BaseException]:
        """Each question answered by the implementer from what memory holds on it: the
        searches and the calls run in parallel, the calls' routing (local activities) one
        after another before them (ModelCaller.route); a call whose provider failed is made
        again on its own, through the fallback."""
        assert self._store is not None and self._spec is not None
        queue, tenant, goal = self._store.queue, self._request.tenant, self._state.goal
        searches = [
            steps.search(queue, tenant, exposure.for_memory(q.text, self._pii)) for q in batch
        ]
        found = await asyncio.gather(*searches)
        asks = [prompts.answer(goal, q, sources) for q, sources in zip(batch, found, strict=True)]
        temperature = self._spec.temperature
        out: list[Finding | BaseException] = []
        routes: list[CallRoute | BaseException] = []
        for messages in asks:
            try:
                routes.append(await self._ask(self._calls.route("implementer", "gather", messages)))
            except (_OutOfBudget, ApplicationError) as err:
                routes.append(err)
        calls = [
            self._calls.text_on(r, "implementer", "gather", m, temperature=temperature)
            for r, m in zip(routes, asks, strict=True)
            if isinstance(r, CallRoute)
        ]
        replies = iter(await asyncio.gather(*calls, return_exceptions=True))
        for question, route, messages, sources in zip(batch, routes, asks, found, strict=True):
            if not isinstance(route, CallRoute):
                out.append(route)
                continue
            reply: ModelResponse | BaseException = next(replies)
            if isinstance(reply, ActivityError):  # its provider failed: the fallback
                ask = self._calls.text("implementer", "gather", messages, temperature=temperature)
                try:
                    reply = await self._ask(ask)
                except (_OutOfBudget, ApplicationError) as err:
                    reply = err
            if isinstance(reply, BaseException):
                out.append(_OutOfBudget(str(reply)) if _spent(reply) else reply)
                continue
            out.append(steps.finding(question, n, reply.text, sources))
        return out

    async def _as_task(self, n: int, question: Question, parts: int) -> Finding:
        goal = self._state.goal
        seconds = (job.deadline(self._state) - workflow.now()).total_seconds()
        budget = steps.share(self._book, parts, seconds)
        if budget is None:
            raise _OutOfBudget("no budget left for a child task")
        finding, calls = await steps.as_task(self._request, goal, question, n, budget)
        self._book.absorb(calls)
        for call in calls:
            self._on_call(call)
        return finding

    async def _save(self, n: int, findings: list[Finding]) -> None:
        """Store the findings (as memory may keep text: placeholders, never raw PII)."""
        if not findings:
            return
        kept = steps.for_store(findings, self._pii)
        heads = await self._store_of().save_findings(n, kept)
        self._state = job.record_findings(self._state, heads, n)

    async def _judge(self) -> float:
        self._set_phase("judge")
        s = self._state
        messages = prompts.judge(s.goal, s.recent, job.open_questions(s))
        verdict = await self._ask(
            self._calls.structured(JudgeVerdict, "judge", "progress", messages)
        )
        return verdict.score

    # ------------------------------------------------------------ between iterations

    async def _apply_pending(self) -> None:
        """The queued steering commands, at the start of the next iteration. A new goal or
        question is scanned for PII before any prompt carries it, and brings the next
        iteration forward: a person who asks something new wants it worked on now."""
        pending = self._state.pending
        if not pending:
            return
        self._state = steering.apply_pending(self._state, self._state.iteration + 1)
        self._book.max_tokens, self._book.max_usd = job.run_limits(self._state, self._prior)
        if any(c.action in steering.STARTS_NOW for c in pending):
            self._state = self._state.model_copy(update={"next_at": workflow.now()})
            await self._scan()

    async def _hold(self) -> None:
        """Paused: no iteration starts until a command comes (resume, stop) or time is up."""
        self._set_phase("paused", "paused")
        await self._wait_for_command(job.deadline(self._state))

    async def _due(self) -> bool:
        """Whether the next iteration is due. If not, waits (a durable timer) until it is,
        a digest is, the time budget ends or a command comes, and says False."""
        now = workflow.now()
        digest_at = self._digest_at()
        if digest_at is not None and now >= digest_at:
            await self._digest()
            digest_at = self._digest_at()
        next_at = self._state.next_at or now
        if now >= next_at:
            return True
        self._set_phase("wait", "waiting")
        wake = min(next_at, job.deadline(self._state), digest_at or next_at)
        await self._wait_for_command(wake)
        return False

    async def _wait_for_command(self, until: datetime) -> None:
        left = until - workflow.now()
        if left.total_seconds() <= 0:
            return
        try:
            await workflow.wait_condition(lambda: bool(self._state.pending), timeout=left)
        except TimeoutError:
            return

    def _digest_at(self) -> datetime | None:
        seconds = self._request.digest_seconds
        last = self._state.last_digest_at
        return last + timedelta(seconds=seconds) if seconds and last else None

    async def _digest(self) -> None:
        """A digest from the findings' heads, when an iteration ended since the last one
        (the clock starts again either way)."""
        s = self._state
        self._state = s.model_copy(update={"last_digest_at": workflow.now()})
        if s.iteration <= s.digested:
            return
        self._set_phase("digest")
        report_id = await self._store_of().save_report(s.iteration, "digest", job.digest(s), [])
        self._state = self._state.model_copy(update={"digested": s.iteration})
        self._log.emit("digest", report_id=report_id, iteration=s.iteration, findings=s.findings)

    def _time_to_continue(self) -> bool:
        info = workflow.info()
        return job.time_to_continue(
            self._ran,
            self._request.iterations_per_run,
            self._history(),
            self._largest,
            info.is_continue_as_new_suggested(),
        )

    # ------------------------------------------------------------ the end

    async def _finish(self, reason: StopReason) -> ResearchResult:
        """The final report from the stored findings, stored itself, and the result."""
        self._stop = reason
        self._set_phase("report", "reporting")
        findings = await self._store_of().findings(REPORT_CHARS)
        goal, pii = self._state.goal, self._pii
        # The time budget does not stop the report: it is what the time was spent for.
        self._calls.scope = replace(self._calls.scope, deadline=None)
        text, citations = await steps.write_report(self._calls, goal, findings, reason, pii)
        stored = exposure.for_memory(text, pii)
        iteration = self._state.iteration
        report_id = await self._store_of().save_report(iteration, "final", stored, citations)
        await self._calls.report()  # the last calls' outcomes, to the governor
        live = self._live()
        self._phase, self._status = "done", "done"
        status = job.FINAL_STATUS[reason]
        workflow.upsert_search_attributes(
            [
                search.PHASE.value_set("done"),
                search.STATUS.value_set(status),
                search.COST.value_set(live.spend.usd),
            ]
        )
        self._log.emit("status", status=status, reason=reason, report_id=report_id)
        job_id = workflow.info().workflow_id
        return job.result(live, job_id, reason, (text, citations, report_id))

    # ------------------------------------------------------------ plumbing

    async def _scan(self) -> None:
        text = job.scan_text(self._request, self._state)
        scan = await privacy_steps.scan_prompt(
            TaskRequest(prompt=text, tenant=self._request.tenant)
        )
        self._pii = with_placeholders(scan, text, self._state.pii_mapping)
        self._state = self._state.model_copy(update={"pii_mapping": self._pii.mapping})
        if self._caller is not None:
            self._caller.scope = replace(self._caller.scope, pii=self._pii)

    @property
    def _calls(self) -> ModelCaller:
        assert self._caller is not None, "calls before the policy was resolved"
        return self._caller

    def _store_of(self) -> steps.Store:
        assert self._store is not None, "the store before the policy was resolved"
        return self._store

    async def _ask(self, step: Awaitable[T]) -> T:
        """A call; a spent budget ends the job (with its report), other errors fail it."""
        try:
            return await step
        except ApplicationError as err:
            if err.type == BUDGET_ERROR:
                raise _OutOfBudget(err.message) from None
            raise

    def _live(self) -> ResearchState:
        """The state with this run's spend and the log's sequence number folded in."""
        return self._state.model_copy(
            update={
                "spend": job.spend(self._prior, self._book.calls),
                "event_seq": self._log.seq,
            }
        )

    def _history(self) -> job.HistoryUse:
        info = workflow.info()
        return job.HistoryUse(info.get_current_history_length(), info.get_current_history_size())

    def _on_call(self, call: ModelCall) -> None:
        self._log.emit("model_call", **call.model_dump(mode="json"))

    def _set_phase(self, phase: str, status: ResearchStatusName = "running") -> None:
        if phase == self._phase and status == self._status:
            return
        updates = [search.PHASE.value_set(phase)]
        if status != self._status:
            updates.append(search.STATUS.value_set(status))
        self._phase, self._status = phase, status
        workflow.upsert_search_attributes(updates)
        self._log.emit("phase", phase=phase, status=status, iteration=self._state.iteration)


def _spent(err: BaseException) -> bool:
    """Whether a call's error is the budget running out (the job then reports)."""
    return isinstance(err, ApplicationError) and err.type == BUDGET_ERROR
