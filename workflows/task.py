"""TaskWorkflow: PII scan -> plan -> approve? -> implement -> verify -> refine (loop) ->
review -> approve? -> write back.

Deterministic orchestration only: every side effect is an activity, time is workflow.now().
Model calls go through the one call path (workflows/steps/calls.py); arithmetic lives in
pure helpers (naestro/quality.py, naestro/outcome.py, naestro/ledger.py).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, SearchAttributeUpdate, VersioningBehavior
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ActivityError, ApplicationError

from activities.routing.activity import RoutingActivities
from activities.sandbox.activity import SandboxActivities
from naestro import names, plans, prompts, quality, search
from naestro.checkers import report as checked
from naestro.checkers.select import checks_for
from naestro.contracts import (
    ApprovalDecision,
    ApprovalOutcome,
    ApprovalStage,
    CancelRequest,
    ChatMessage,
    ConfidenceWeights,
    ConsensusSummary,
    JudgeVerdict,
    ModelCall,
    PiiScanResult,
    PolicySpec,
    RouteRequest,
    SandboxFile,
    Subtask,
    SubtaskOutcome,
    TaskEvent,
    TaskPlan,
    TaskRequest,
    TaskResult,
    TaskStatusName,
    TaskStatusView,
    VerificationReport,
    VerifyRequest,
)
from naestro.contracts.memory import MemoryContext
from naestro.contracts.verify import CheckResult
from naestro.examples import Example, task_examples, with_examples
from naestro.fencing import fence
from naestro.ledger import LedgerBook
from naestro.outcome import TaskState, spend_of, task_result
from naestro.parsing import estimate_tokens, extract_files, parse_verdict
from naestro.presets import LOCAL_FAST, SANDBOX_RUN
from naestro.quality import Candidate
from naestro.structured import repair_messages
from naestro.telemetry import catalogue, flow
from workflows.steps import deliberate
from workflows.steps import memory as memory_steps
from workflows.steps import privacy as privacy_steps
from workflows.steps import verify as verify_steps
from workflows.steps.approval import ApprovalDesk, ApprovalRejected, ProgressLog
from workflows.steps.calls import (
    BUDGET_ERROR,
    NOT_READY,
    READY_WAITS,
    WAIT_FOR_PROVIDER,
    CallCancelled,
    CallScope,
    ModelCaller,
)
from workflows.steps.live import LiveStream
from workflows.steps.subtasks import FanOut, FanOutCancelled
from workflows.steps.tools import TOOL_PHASES, TOOLS, ToolBelt

WORKFLOW_NAME = names.TASK_WORKFLOW
# Tasks started before it route a role's calls once per task (no fallback, no repair).
ONE_CALL_PATH = "naestro.one-call-path"
# Tasks started before it verify code with its own tests only, not the task's examples.
TASK_EXAMPLES = "naestro.task-examples"
# Tasks started before it asked the judge again about an answer a deliberation had judged.
REUSE_CONSENSUS_VERDICT = "naestro.reuse-consensus-verdict"
# Tasks started before it recorded only their status at the end, not the score and
# confidence a rollout gate compares.
OUTCOME_ATTRIBUTES = "naestro.outcome-attributes"
# Tasks started before it planned in free text only (no structured plan, no subtasks).
SUBTASKS = "naestro.subtasks"
# Tasks started before it checked no answer against an expected answer or a JSON schema.
CHECKERS = "naestro.checkers"
# Tasks started before it upserted again the attributes they were started with, their cost
# after every model call, changed or not (a local or scripted model's calls cost nothing),
# and their last phase apart from their outcome: each upsert is a visibility write.
FEWER_UPSERTS = "naestro.fewer-upserts"
STRUCTURED_OUTPUT_ERROR = "StructuredOutputError"
WORKSPACE_INSTALL_SECONDS = 300  # a workspace's first install from the wheel cache
_WEIGHTS = ConfidenceWeights()
T = TypeVar("T")


class _Stop(Exception):
    """Ends the task early with a status (budget, cancel); the best result so far is kept."""

    def __init__(self, status: TaskStatusName, reason: str) -> None:
        super().__init__(reason)
        self.status: TaskStatusName = status
        self.reason = reason


@workflow.defn(
    name=WORKFLOW_NAME,
    failure_exception_types=[ApplicationError],
    versioning_behavior=VersioningBehavior.PINNED,  # a task never changes code mid-run
)
class TaskWorkflow:
    def __init__(self) -> None:
        # Live progress and tokens for watchers (workflows/steps/live.py); built here: the
        # library registers its handlers from the constructor only.
        self._stream = LiveStream(WorkflowStream())
        self._log = ProgressLog(on_emit=self._stream.publish)
        self._desk = ApprovalDesk(self._log, lambda: self._cancel is not None)
        self._phase = "pii"
        self._round = 0
        self._status: TaskStatusName = "running"
        self._cancel: str | None = None
        self._book = LedgerBook(max_tokens=1, max_usd=0.0)
        self._best: Candidate | None = None
        self._plan = ""
        self._draft = ""  # the latest answer, kept even before it is evaluated
        self._pii = PiiScanResult(redacted="")
        self._spec: PolicySpec | None = None
        self._consensus: ConsensusSummary | None = None  # set when a phase deliberated
        self._deliberated: tuple[str, JudgeVerdict | None] | None = None  # its answer, verdict
        self._memory: MemoryContext | None = None
        self._one_path = False
        self._caller: ModelCaller | None = None
        self._examples: list[Example] = []
        self._phase_started = workflow.now()
        self._implement: list[ChatMessage] = []  # the implementer's prompt, for resampling
        self._shadow = False  # set from the start attributes (run)
        self._cost_shown: float | None = None  # NaestroCostUsd as last upserted
        self._subtasks: list[SubtaskOutcome] = []  # a plan that fanned out: every subtask

    # ------------------------------------------------------------ handlers

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> TaskStatusView:
        score = self._best.verdict.score if self._best and self._best.verdict else None
        return TaskStatusView(
            phase=self._phase,
            round=self._round,
            status=self._status,
            spend=spend_of(self._book.calls),
            last_score=score,
            pending_approval=self._desk.pending,
            subtasks=self._subtasks,
        )

    @workflow.signal(name=names.CANCEL_SIGNAL)
    def cancel(self, request: CancelRequest) -> None:
        self._cancel = request.reason or "cancelled"

    @workflow.query(name=names.EVENTS_QUERY)
    def events(self, after: int) -> list[TaskEvent]:
        return self._log.after(after)

    @workflow.update(name=names.APPROVAL_UPDATE)
    async def approval(self, decision: ApprovalDecision) -> ApprovalOutcome:
        return self._desk.decide(decision)

    @approval.validator
    def _check_approval(self, decision: ApprovalDecision) -> None:
        self._desk.check(decision)

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, request: TaskRequest) -> TaskResult:
        self._request = request
        self._started = self._phase_started = workflow.now()
        # A rollout's mirror of a user's task on the candidate version: it answers the same
        # prompt, and nothing it does reaches anyone (no approval asked, no memory kept).
        started = workflow.info().typed_search_attributes
        self._shadow = bool(started.get(search.SHADOW))
        self._cost_shown = started.get(search.COST)  # what NaestroCostUsd says now
        flow.count(catalogue.TASKS_STARTED, kind=request.kind, policy=request.policy)
        self._book = LedgerBook(
            max_tokens=request.budget.max_tokens,
            max_usd=request.budget.max_usd,
            max_gpu_seconds=request.budget.max_gpu_seconds,
        )
        starting: list[SearchAttributeUpdate[Any]] = [
            search.KIND.value_set(request.kind),
            search.TENANT.value_set(request.tenant),
            search.PRIORITY.value_set(request.priority),
            search.STATUS.value_set("running"),
        ]
        # A task started by naestro.client carries them already (search.initial).
        given = all(started.get(u.key) == u.value for u in starting)
        if not given or not workflow.patched(FEWER_UPSERTS):
            workflow.upsert_search_attributes(starting)
        try:
            result = await self._execute(request)
        except _Stop as stop:
            result = self._result(stop.status, stop.reason)
        except ApprovalRejected as rejected:
            result = self._result("rejected", rejected.reason)
        if workflow.patched("naestro.pii.output-review"):  # histories from before it replay
            result = await privacy_steps.review_output(self._pii, result)
        # Memory (skipped unless enabled) learns from verified outcomes; a subtask's parent
        # writes back the whole.
        if not self._shadow and request.subtask_of is None:
            await memory_steps.write_back(
                self._spec, *privacy_steps.redacted_for_memory(self._pii, request, result)
            )
        if self._memory is not None:
            result = result.model_copy(update={"memory": memory_steps.usage(self._memory)})
        if self._one_path and self._caller is not None:
            await self._caller.report()  # the last calls' outcomes, to the governor
        self._status = result.status
        if workflow.patched(FEWER_UPSERTS):  # the last phase and the outcome in one upsert
            self._set_phase("done", self._outcome_attributes(result))
        else:
            self._set_phase("done")
            workflow.upsert_search_attributes(self._outcome_attributes(result))
        self._count_result(request, result)
        self._log.emit("status", status=result.status, reason=result.reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _execute(self, request: TaskRequest) -> TaskResult:
        self._pii = await privacy_steps.scan_prompt(request)
        self._spec = await self._resolve_policy(request)
        self._caller = self._new_caller(request, self._spec)
        self._memory = await memory_steps.recall(self._spec, request, self._pii)
        if request.kind == "code" and workflow.patched(TASK_EXAMPLES):
            self._examples = task_examples(request.prompt)
        spec = self._spec
        planned = spec.plan and request.subtask_of is None
        if request.subtask_of is not None:  # a subtask follows its parent's plan for it
            self._plan = request.subtask_of.plan
        elif spec.plan:
            tree = await self._plan_task(request)
            await self._approve("plan", self._plan)
            if tree is not None and plans.splits(tree, spec.subtasks):
                draft = await self._fan_out(request, tree)
                return await self._refine_loop(request, draft)
        implement = prompts.implement(
            request.kind, request.prompt, self._plan, write_tests=spec.write_tests
        )
        if not planned:  # the recalled context joins the implementer's prompt instead
            implement = memory_steps.with_context(implement, self._memory)
        self._implement = implement
        draft = await self._answer("implement", "implementer", implement)
        return await self._refine_loop(request, draft)

    async def _refine_loop(self, request: TaskRequest, answer: str) -> TaskResult:
        assert self._spec is not None
        previous: Candidate | None = None
        while True:
            self._draft = answer
            current = await self._evaluate(request, answer)
            self._best = quality.better(self._best, current)
            if current.good_enough(self._spec.judge_threshold):
                await self._approve("answer", self._result("succeeded", "").answer)
                return self._result("succeeded", "verified and accepted by the judge")
            if self._round >= request.budget.max_refine_rounds:
                return self._result("unverified", f"{self._round} refine round(s) exhausted")
            if self._spec.refine == "resample":  # a fresh draw; no gate: draws are independent
                self._round += 1
                temperature = self._spec.resample_temperature
                answer = await self._answer("refine", "implementer", self._implement, temperature)
                continue
            stop = quality.improvement_stop(previous, current, self._spec.min_improvement)
            if stop:
                return self._result("unverified", stop)
            previous = current
            self._round += 1
            rationale = current.verdict.rationale if current.verdict else ""
            revise = prompts.refine(
                request.kind,
                request.prompt,
                answer,
                current.report,
                rationale,
                write_tests=self._spec.write_tests,
            )
            answer = await self._answer("refine", "refiner", revise)

    async def _evaluate(self, request: TaskRequest, answer: str) -> Candidate:
        files: list[SandboxFile] = []
        report: VerificationReport | None = None
        if request.kind == "code":
            files = extract_files(answer)
            report = await self._verify(with_examples(files, self._examples))
            self._log.emit("verification", passed=report.passed, summary=report.summary)
        checks = await self._check(request, answer)
        report = checked.fold(report, checks, request.verify)  # checks count as tests
        candidate = await self._assess(request, answer, files, report)
        return replace(candidate, checks=tuple(checks)) if checks else candidate

    async def _check(self, request: TaskRequest, answer: str) -> list[CheckResult]:
        """The answer's deterministic checks (an expected maths answer, a JSON schema)
        when the task asks for them; tasks started before the patch ran none."""
        if not checks_for(request.verify) or not workflow.patched(CHECKERS):
            return []
        assert self._spec is not None
        self._set_phase("verify")
        queue = self._spec.sandbox_task_queue
        checks = await verify_steps.check_answer(request, answer, queue, self._round)
        for check in checks:
            self._log.emit(
                "verification", checker=check.checker, passed=check.passed, summary=check.summary
            )
        return checks

    async def _assess(
        self,
        request: TaskRequest,
        answer: str,
        files: list[SandboxFile],
        report: VerificationReport | None,
    ) -> Candidate:
        """Failing tests or checks settle it; passing ones may (review: unverified); else
        the judge (or the deliberation's verdict on this very answer) decides."""
        if report is not None:
            if not report.passed and not quality.no_tests(report):
                return quality.failing(answer, files, report)  # the judge is not asked
            assert self._spec is not None
            if self._spec.review == "unverified" and quality.passed_tests(report):
                return quality.verified(answer, files, report)
        verdict = self._reusable_verdict(answer)
        if verdict is None:
            review = prompts.review(request.kind, request.prompt, answer, report)
            verdict = await self._judge(review)
        return quality.judged(answer, files, report, verdict)

    def _reusable_verdict(self, answer: str) -> JudgeVerdict | None:
        """The deliberation's own judge verdict on exactly this answer: the same judge is not
        asked twice (runs started before the patch asked again)."""
        judged = self._deliberated
        if judged is None or judged[0] != answer or judged[1] is None:
            return None
        return judged[1] if workflow.patched(REUSE_CONSENSUS_VERDICT) else None

    # ------------------------------------------------------------ plan and subtasks

    async def _plan_task(self, request: TaskRequest) -> TaskPlan | None:
        """The plan (self._plan, as text); a structured one when the policy lets the task
        fan out into subtasks (None when it did not come back structured)."""
        assert self._spec is not None
        policy = self._spec.subtasks
        if policy.enabled and workflow.patched(SUBTASKS):
            ask = prompts.structured_plan(request.kind, request.prompt, policy.max_subtasks)
            tree = await self._structured_plan(memory_steps.with_context(ask, self._memory))
            if tree is not None:
                self._plan = plans.render(tree)
                return tree
        plan_prompt = prompts.plan(request.kind, request.prompt)
        self._plan = await self._text(
            "plan", "planner", memory_steps.with_context(plan_prompt, self._memory)
        )
        return None

    async def _structured_plan(self, messages: list[ChatMessage]) -> TaskPlan | None:
        """A schema'd plan, asked again once when it is longer than the policy allows;
        None when no valid plan came back (the task plans in free text instead)."""
        assert self._spec is not None
        policy = self._spec.subtasks
        self._set_phase("plan")
        try:
            ask = self._calls.structured(TaskPlan, "planner", "plan", messages)
            tree = await self._stoppable(ask)
            problem = plans.too_long(tree, policy)
            if problem:
                fixed = repair_messages(messages, tree.model_dump_json(), "TaskPlan", problem)
                ask = self._calls.structured(TaskPlan, "planner", "plan", fixed)
                tree = await self._stoppable(ask)
        except ApplicationError as err:
            if err.type != STRUCTURED_OUTPUT_ERROR:
                raise
            workflow.logger.warning("no structured plan, planning in free text: %s", err)
            return None
        return tree

    async def _fan_out(self, request: TaskRequest, tree: TaskPlan) -> str:
        """Run the plan's subtasks as child tasks, then integrate their results: the
        draft the refine loop verifies and judges as a whole."""
        assert self._spec is not None
        self._set_phase("subtasks")
        fan = FanOut(
            parent=request,
            task_id=workflow.info().workflow_id,
            policy=self._spec.subtasks,
            book=self._book,
            log=self._log,
            deadline=self._started + timedelta(seconds=request.budget.max_wall_seconds),
            cancelled=lambda: self._cancel,
            replan=self._replan,
            shadow=self._shadow,
        )
        try:
            self._subtasks = await fan.run(tree)
        except FanOutCancelled as cancelled:
            self._subtasks = cancelled.outcomes
            raise _Stop("cancelled", cancelled.reason) from None
        self._show_cost()
        parts = [
            f"### {o.id}: {o.title} ({o.status})\n"
            + fence(o.answer or o.reason or "(nothing)", f"subtask {o.id} result")
            for o in self._subtasks
        ]
        integrate = prompts.integrate(
            request.kind, request.prompt, self._plan, parts, write_tests=self._spec.write_tests
        )
        self._implement = integrate
        return await self._answer("implement", "implementer", integrate)

    async def _replan(self, subtask: Subtask, outcome: SubtaskOutcome) -> Subtask:
        """A better version of a subtask that did not succeed (the same one when the
        planner gives none: out of budget, cancelled, or no valid reply)."""
        ask = prompts.replan_subtask(
            self._request.prompt,
            subtask.model_dump_json(),
            outcome.status,
            outcome.reason,
            outcome.answer,
        )
        try:
            better = await self._calls.structured(Subtask, "planner", "plan", ask)
        except (ApplicationError, CallCancelled) as err:
            workflow.logger.warning("subtask %s not re-planned: %s", subtask.id, err)
            return subtask
        return better.model_copy(update={"id": subtask.id, "depends_on": subtask.depends_on})

    # ------------------------------------------------------------ steps

    async def _resolve_policy(self, request: TaskRequest) -> PolicySpec:
        """The policy's settings, and a first provider per role: fails fast when a role has
        none, waits (a durable timer, within the task's wall time) while one may come."""
        deadline = self._started + timedelta(seconds=request.budget.max_wall_seconds)
        for pause in (*READY_WAITS, None):
            try:
                return await self._resolve_once(request)
            except (ActivityError, ApplicationError) as err:  # a local activity's own error
                cause = err.cause if isinstance(err, ActivityError) else err
                ready_later = isinstance(cause, ApplicationError) and cause.type == NOT_READY
                if pause is None or not ready_later:
                    raise
                late = workflow.now() + timedelta(seconds=pause) >= deadline
                if late or not workflow.patched(WAIT_FOR_PROVIDER):
                    raise
                self._log.emit("waiting", reason=str(cause), seconds=pause)
                await workflow.sleep(pause)
        raise AssertionError("unreachable: the last pause is None")

    async def _resolve_once(self, request: TaskRequest) -> PolicySpec:
        spec: PolicySpec = await workflow.execute_local_activity_method(
            RoutingActivities.resolve_policy,
            RouteRequest(
                policy=request.policy,
                roles=["planner", "implementer", "refiner", "judge"],
                prompt_tokens=estimate_tokens(request.prompt),
                contains_pii=bool(self._pii.findings),
                tenant=request.tenant,
            ),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary=f"route policy {request.policy}",
        )
        return spec

    @property
    def _calls(self) -> ModelCaller:
        assert self._caller is not None, "calls before the policy was resolved"
        return self._caller

    def _new_caller(self, request: TaskRequest, spec: PolicySpec) -> ModelCaller:
        # Consensus policies routed every call before the one call path; others did not.
        self._one_path = workflow.patched(ONE_CALL_PATH)
        per_call = self._one_path or spec.consensus is not None
        scope = CallScope(
            task_id=workflow.info().workflow_id,
            policy=spec.name,
            tenant=request.tenant,
            priority=request.priority,
            pii=self._pii,
            max_output_tokens=spec.max_output_tokens,
            heartbeat_timeout_seconds=spec.heartbeat_timeout_seconds,
            call_attempts=spec.call_attempts,
            deadline=self._started + timedelta(seconds=request.budget.max_wall_seconds),
            stream=spec.stream,
            live_tokens_ms=spec.live_tokens_ms,
            fixed_routes=None if per_call else spec.routes,
        )
        caller = ModelCaller(
            scope, self._book, self._on_call, lambda: self._cancel, on_tokens=self._stream.tokens
        )
        caller.tools = self._tool_belt(request, spec)
        return caller

    def _tool_belt(self, request: TaskRequest, spec: PolicySpec) -> ToolBelt | None:
        """The task's tools when its policy allows some (tasks started before: none)."""
        if spec.tools is None or not workflow.patched(TOOLS):
            return None
        return ToolBelt(
            spec.tools,
            request.tenant,
            spec.sandbox_task_queue,
            request.priority,
            lambda data: self._log.emit("tool_call", **data),
            lambda: self._cancel,
        )

    async def _text(
        self,
        phase: str,
        role: str,
        messages: list[ChatMessage],
        temperature: float | None = None,
    ) -> str:
        self._set_phase(phase)
        if temperature is None:
            temperature = self._spec.temperature if self._spec is not None else 0.2
        tools = phase in TOOL_PHASES  # implement and refine may call tools
        ask = self._calls.text(role, phase, messages, temperature=temperature, tools=tools)
        return (await self._stoppable(ask)).text

    async def _answer(
        self,
        phase: str,
        role: str,
        messages: list[ChatMessage],
        temperature: float | None = None,
    ) -> str:
        """An implementation or a revision: one call, or a deliberation when the policy asks."""
        if not deliberate.wants_consensus(self._spec, phase):
            return await self._text(phase, role, messages, temperature)
        return await self._deliberate(phase, messages)

    async def _judge(self, messages: list[ChatMessage]) -> JudgeVerdict:
        """The judge's verdict: structured, repaired once (a malformed reply fails the task)."""
        self._set_phase("review")
        if self._one_path:
            ask = self._calls.structured(JudgeVerdict, "judge", "review", messages)
            return await self._stoppable(ask)
        reply = await self._stoppable(self._calls.text("judge", "review", messages))
        return parse_verdict(reply.text) or JudgeVerdict(
            verdict="revise", score=0.0, rationale="the judge's reply held no valid verdict"
        )

    async def _deliberate(self, phase: str, messages: list[ChatMessage]) -> str:
        """A phase through ConsensusWorkflow (a child); its calls join this task's ledger."""
        assert self._spec is not None
        self._set_phase(phase)
        deadline = self._calls.scope.deadline
        ask = deliberate.consensus_request(
            self._request, self._spec, self._pii, phase, messages, self._book, deadline
        )
        try:
            result = await deliberate.deliberate(ask, self._round, lambda: self._cancel)
        except deliberate.ConsensusStopped as stop:
            self._book.absorb(stop.calls)  # its spend counts, though its answer is lost
            status: TaskStatusName = (
                "cancelled" if stop.status == "cancelled" else "budget_exhausted"
            )
            raise _Stop(status, stop.reason) from None
        self._book.absorb(result.calls)
        self._show_cost()
        self._consensus = result.summary
        self._deliberated = (result.answer, result.verdict)
        self._draft = result.answer
        return result.answer

    async def _verify(self, files: list[SandboxFile]) -> VerificationReport:
        """The model's files in the sandbox; with the task's workspace, written over it, and
        the user's own tests run as well (dependencies from the worker's wheel cache)."""
        assert self._spec is not None
        self._set_phase("verify")
        workspace = self._request.verify.workspace if self._request.verify else None
        if not files and workspace is None:
            return VerificationReport(
                backend="none",
                passed=False,
                exit_code=None,
                summary="the answer held no code blocks to verify",
            )
        seconds = self._spec.verify_timeout_seconds + 30
        if workspace is not None:  # two suites, and a first install of its dependencies
            seconds += self._spec.verify_timeout_seconds + WORKSPACE_INSTALL_SECONDS
        handle = workflow.start_activity_method(
            SandboxActivities.verify,
            VerifyRequest(files=files, workspace=workspace),
            task_queue=self._spec.sandbox_task_queue,
            start_to_close_timeout=timedelta(seconds=seconds),
            heartbeat_timeout=SANDBOX_RUN.heartbeat,
            retry_policy=SANDBOX_RUN.retry,
            summary=f"verify round {self._round}: {len(files)} file(s)",
            priority=Priority(priority_key=self._request.priority),
        )
        result: VerificationReport = await self._await(handle)
        return result

    async def _approve(self, stage: ApprovalStage, content: str) -> None:
        """Wait for a person when the policy asks for approval of this stage."""
        assert self._spec is not None
        policy = self._spec.approval
        if not (policy.plan if stage == "plan" else policy.answer):
            return
        if self._shadow:  # its answer goes to no one: nothing for a person to approve
            self._log.emit("approval", event="skipped", stage=stage, reason="shadow task")
            return
        if self._request.subtask_of is not None:  # a person approves the parent's answer
            self._log.emit("approval", event="skipped", stage=stage, reason="subtask")
            return
        self._set_phase("approve")
        await self._desk.gate(policy, stage, content, self._pii)
        if self._cancel is not None:
            raise _Stop("cancelled", self._cancel)

    # ------------------------------------------------------------ plumbing

    async def _stoppable(self, step: Awaitable[T]) -> T:
        """A call; a cancel or an exhausted budget ends the task with its best result."""
        try:
            return await step
        except CallCancelled as cancelled:
            raise _Stop("cancelled", str(cancelled)) from None
        except ApplicationError as err:
            if err.type == BUDGET_ERROR:
                raise _Stop("budget_exhausted", err.message) from None
            raise

    async def _await(self, handle: workflow.ActivityHandle[Any]) -> Any:
        """Wait for an activity, or for a cancel signal (which cancels the activity)."""
        await workflow.wait_condition(lambda: handle.done() or self._cancel is not None)
        if handle.done():
            try:
                return handle.result()
            except ActivityError as err:
                raise ApplicationError(
                    f"{self._phase} failed: {err.cause or err}",
                    type="TaskFailed",
                    non_retryable=True,
                ) from err
        handle.cancel()
        raise _Stop("cancelled", self._cancel or "cancelled")

    def _on_call(self, call: ModelCall) -> None:
        self._log.emit("model_call", **call.model_dump(mode="json"))  # trims the stream too
        if self._book.spent_usd != self._cost_shown or not workflow.patched(FEWER_UPSERTS):
            self._show_cost()

    def _show_cost(self) -> None:
        """NaestroCostUsd: what the task has spent so far."""
        self._cost_shown = self._book.spent_usd
        workflow.upsert_search_attributes([search.COST.value_set(self._cost_shown)])

    def _set_phase(self, phase: str, also: list[SearchAttributeUpdate[Any]] | None = None) -> None:
        """A new phase: its attribute (upserted with ``also``), its event, the last one's
        seconds."""
        if phase == self._phase:
            if also:
                workflow.upsert_search_attributes(also)
            return
        flow.observe(
            catalogue.PHASE_SECONDS,
            flow.since(self._phase_started),
            kind=self._request.kind,
            phase=self._phase,
        )
        self._phase, self._phase_started = phase, workflow.now()
        workflow.upsert_search_attributes([search.PHASE.value_set(phase), *(also or [])])
        self._log.emit("phase", phase=phase, round=self._round)

    def _outcome_attributes(self, result: TaskResult) -> list[SearchAttributeUpdate[Any]]:
        """The final status, and the judge's score and the confidence a rollout gate
        compares between versions (tasks started before the patch: the status only)."""
        updates: list[SearchAttributeUpdate[Any]] = [search.STATUS.value_set(result.status)]
        if not workflow.patched(OUTCOME_ATTRIBUTES):
            return updates
        if result.verdict is not None:
            updates.append(search.SCORE.value_set(result.verdict.score))
        if result.confidence is not None:
            updates.append(search.CONFIDENCE.value_set(result.confidence))
        return updates

    def _count_result(self, request: TaskRequest, result: TaskResult) -> None:
        labels = {"kind": request.kind, "policy": request.policy}
        flow.count(catalogue.TASKS_FINISHED, status=result.status, **labels)
        seconds = flow.since(self._started)
        flow.observe(catalogue.TASK_SECONDS, seconds, status=result.status, **labels)
        if result.status == "budget_exhausted":
            flow.count(catalogue.BUDGET_EXHAUSTED, **labels)

    def _result(self, status: TaskStatusName, reason: str) -> TaskResult:
        spec = self._spec
        state = TaskState(
            task_id=workflow.info().workflow_id,
            plan=self._plan,
            draft=self._draft,
            best=self._best,
            rounds=self._round,
            calls=list(self._book.calls),
            consensus=self._consensus,
            weights=spec.consensus.weights if spec and spec.consensus else _WEIGHTS,
        )
        result = task_result(state, status, reason)
        if not self._subtasks:
            return result
        reason = "; ".join(r for r in (reason, plans.summary(self._subtasks)) if r)
        return result.model_copy(update={"subtasks": self._subtasks, "reason": reason})
