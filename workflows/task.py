"""TaskWorkflow: PII scan -> plan -> implement -> verify -> refine (loop) -> review.

Deterministic orchestration only: every side effect is an activity, time is workflow.now().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError

from activities.models.activity import ModelActivities
from activities.pii import PiiActivities
from activities.routing.policy import RoutingActivities
from activities.sandbox.activity import SandboxActivities
from naestro import names, prompts, search
from naestro.contracts import (
    ApprovalStage,
    Artifact,
    CancelRequest,
    ChatMessage,
    ConfidenceWeights,
    ConsensusSummary,
    JudgeVerdict,
    ModelCall,
    ModelRequest,
    ModelResponse,
    PiiScanRequest,
    PiiScanResult,
    PolicySpec,
    RouteRequest,
    SandboxFile,
    Spend,
    TaskRequest,
    TaskResult,
    TaskStatusName,
    TaskStatusView,
    VerificationReport,
    VerifyRequest,
)
from naestro.contracts.memory import MemoryContext
from naestro.ledger import fold, role_summaries
from naestro.parsing import estimate_tokens, extract_files, parse_verdict, render_files
from naestro.pii import pseudonymize, restore
from naestro.presets import LLM_CALL, LOCAL_FAST, SANDBOX_RUN
from workflows.steps import deliberate
from workflows.steps import memory as memory_steps
from workflows.steps import privacy as privacy_steps
from workflows.steps.approval import ApprovalGate, ApprovalRejected

WORKFLOW_NAME = names.TASK_WORKFLOW
_WEIGHTS = ConfidenceWeights()


class _Stop(Exception):
    """Ends the task early with a status (budget, cancel); the best result so far is kept."""

    def __init__(self, status: TaskStatusName, reason: str) -> None:
        super().__init__(reason)
        self.status: TaskStatusName = status
        self.reason = reason


@dataclass(frozen=True)
class _Candidate:
    answer: str
    files: list[SandboxFile]
    report: VerificationReport | None
    verdict: JudgeVerdict | None
    quality: float

    def good_enough(self, threshold: float) -> bool:
        verified = self.report is None or self.report.passed
        return verified and self.verdict is not None and self.verdict.score >= threshold


def _pass_fraction(report: VerificationReport) -> float:
    if report.passed:
        return 1.0
    if not report.tests:
        return 0.0
    return sum(t.outcome == "passed" for t in report.tests) / len(report.tests)


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ApplicationError])
class TaskWorkflow(ApprovalGate):
    def __init__(self) -> None:
        self._init_gate()
        self._phase = "pii"
        self._round = 0
        self._spend = Spend()
        self._trace: list[ModelCall] = []
        self._cancel: str | None = None
        self._best: _Candidate | None = None
        self._plan = ""
        self._draft = ""  # the latest answer, kept even before it is evaluated
        self._status: TaskStatusName = "running"
        self._pii = PiiScanResult(redacted="")
        self._spec: PolicySpec | None = None
        self._consensus: ConsensusSummary | None = None  # set when a phase deliberated
        self._memory: MemoryContext | None = None

    # ------------------------------------------------------------ handlers

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> TaskStatusView:
        score = self._best.verdict.score if self._best and self._best.verdict else None
        return TaskStatusView(
            phase=self._phase,
            round=self._round,
            status=self._status,
            spend=self._spend,
            last_score=score,
            pending_approval=self._pending,
        )

    @workflow.signal(name=names.CANCEL_SIGNAL)
    def cancel(self, request: CancelRequest) -> None:
        self._cancel = request.reason or "cancelled"

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, request: TaskRequest) -> TaskResult:
        self._request = request
        self._started = workflow.now()
        workflow.upsert_search_attributes(
            [
                search.KIND.value_set(request.kind),
                search.TENANT.value_set(request.tenant),
                search.PRIORITY.value_set(request.priority),
                search.STATUS.value_set("running"),
            ]
        )
        try:
            result = await self._execute(request)
        except _Stop as stop:
            result = self._result(stop.status, stop.reason)
        except ApprovalRejected as rejected:
            result = self._result("rejected", rejected.reason)
        if workflow.patched("naestro.pii.output-review"):  # histories from before it replay
            result = await privacy_steps.review_output(self._pii, result)
        # Memory (skipped unless enabled): learn from this task's verified outcome.
        await memory_steps.write_back(
            self._spec, *privacy_steps.redacted_for_memory(self._pii, request, result)
        )
        if self._memory is not None:
            result = result.model_copy(update={"memory": memory_steps.usage(self._memory)})
        self._status = result.status
        self._set_phase("done")
        workflow.upsert_search_attributes([search.STATUS.value_set(result.status)])
        self._emit("status", status=result.status, reason=result.reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _execute(self, request: TaskRequest) -> TaskResult:
        self._pii = await workflow.execute_local_activity_method(
            PiiActivities.scan,
            PiiScanRequest(text=request.prompt, tenant=request.tenant),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary="PII scan of the prompt",
        )
        self._spec = await workflow.execute_local_activity_method(
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
        self._memory = await memory_steps.recall(self._spec, request)
        plan_prompt = memory_steps.with_context(
            prompts.plan(request.kind, request.prompt), self._memory
        )
        self._plan = (await self._call("plan", "planner", plan_prompt)).text
        await self._approve("plan", self._plan)
        implement = prompts.implement(request.kind, request.prompt, self._plan)
        if deliberate.wants_consensus(self._spec, "implement"):
            return await self._refine_loop(request, await self._deliberate("implement", implement))
        draft = await self._call("implement", "implementer", implement)
        return await self._refine_loop(request, draft.text)

    async def _deliberate(self, phase: str, messages: list[ChatMessage]) -> str:
        """A phase through ConsensusWorkflow (a child); its calls join this task's trace."""
        assert self._spec is not None
        self._set_phase(phase)
        ask = deliberate.consensus_request(
            self._request, self._spec, self._pii, phase, messages, self._spend
        )
        try:
            result = await deliberate.deliberate(ask, self._round, lambda: self._cancel)
        except deliberate.ConsensusStopped as stop:
            status: TaskStatusName = (
                "cancelled" if stop.status == "cancelled" else "budget_exhausted"
            )
            raise _Stop(status, stop.reason) from None
        for call in result.calls:
            self._trace.append(call)
            self._spend = self._spend.add(call)
        workflow.upsert_search_attributes([search.COST.value_set(self._spend.usd)])
        self._consensus = result.summary
        self._draft = result.answer
        return result.answer

    async def _refine_loop(self, request: TaskRequest, answer: str) -> TaskResult:
        assert self._spec is not None
        previous: _Candidate | None = None
        while True:
            self._draft = answer
            current = await self._evaluate(request, answer)
            if self._best is None or current.quality >= self._best.quality:
                self._best = current
            if current.good_enough(self._spec.judge_threshold):
                await self._approve("answer", self._result("succeeded", "").answer)
                return self._result("succeeded", "verified and accepted by the judge")
            if self._round >= request.budget.max_refine_rounds:
                return self._result("unverified", f"{self._round} refine round(s) exhausted")
            if previous is not None:
                gain = (current.quality - previous.quality) / max(previous.quality, 0.05)
                if gain < self._spec.min_improvement:
                    return self._result(
                        "unverified",
                        f"improvement gate: quality {previous.quality:.2f} -> "
                        f"{current.quality:.2f} is below +{self._spec.min_improvement:.0%}",
                    )
            previous = current
            self._round += 1
            rationale = current.verdict.rationale if current.verdict else ""
            revise = prompts.refine(request.kind, request.prompt, answer, current.report, rationale)
            if deliberate.wants_consensus(self._spec, "refine"):
                answer = await self._deliberate("refine", revise)
            else:
                answer = (await self._call("refine", "refiner", revise)).text

    async def _evaluate(self, request: TaskRequest, answer: str) -> _Candidate:
        files: list[SandboxFile] = []
        report: VerificationReport | None = None
        if request.kind == "code":
            files = extract_files(answer)
            report = await self._verify(files)
            self._emit("verification", passed=report.passed, summary=report.summary)
            if not report.passed:
                # The judge is not asked about code that fails its own tests.
                return _Candidate(answer, files, report, None, 0.5 * _pass_fraction(report))
        reply = await self._call(
            "review", "judge", prompts.review(request.kind, request.prompt, answer, report)
        )
        verdict = parse_verdict(reply.text) or JudgeVerdict(
            verdict="revise", score=0.0, rationale="the judge's reply held no valid verdict"
        )
        quality = 0.5 + 0.5 * verdict.score if report is not None else verdict.score
        return _Candidate(answer, files, report, verdict, quality)

    # ------------------------------------------------------------ steps

    async def _verify(self, files: list[SandboxFile]) -> VerificationReport:
        assert self._spec is not None
        self._set_phase("verify")
        if not files:
            return VerificationReport(
                backend="none",
                passed=False,
                exit_code=None,
                summary="the answer held no code blocks to verify",
            )
        handle = workflow.start_activity_method(
            SandboxActivities.verify,
            VerifyRequest(files=files),
            task_queue=self._spec.sandbox_task_queue,
            start_to_close_timeout=timedelta(seconds=self._spec.verify_timeout_seconds + 30),
            heartbeat_timeout=SANDBOX_RUN.heartbeat,
            retry_policy=SANDBOX_RUN.retry,
            summary=f"verify round {self._round}: {len(files)} file(s)",
            priority=Priority(priority_key=self._request.priority),
        )
        result: VerificationReport = await self._await(handle)
        return result

    def _cancelled(self) -> bool:
        return self._cancel is not None

    async def _approve(self, stage: ApprovalStage, content: str) -> None:
        """Wait for a person when the policy asks for approval of this stage."""
        assert self._spec is not None
        policy = self._spec.approval
        if not (policy.plan if stage == "plan" else policy.answer):
            return
        self._set_phase("approve")
        await self._gate(policy, stage, content)
        if self._cancel is not None:
            raise _Stop("cancelled", self._cancel)

    def _budget_guard(self, messages: list[ChatMessage], price_in: float, price_out: float) -> int:
        """Check the budget before a call; return the output-token cap that keeps it."""
        assert self._spec is not None
        budget = self._request.budget
        elapsed = (workflow.now() - self._started).total_seconds()
        if elapsed >= budget.max_wall_seconds:
            raise _Stop("budget_exhausted", f"wall time {elapsed:.0f}s reached its budget")
        est_in = sum(estimate_tokens(m.content) for m in messages)
        tokens_left = budget.max_tokens - self._spend.tokens - est_in
        usd_left = budget.max_usd - self._spend.usd - est_in * price_in / 1e6
        if tokens_left <= 0 or usd_left <= 0:
            raise _Stop(
                "budget_exhausted",
                f"budget spent: {self._spend.tokens} tokens, ${self._spend.usd:.4f}",
            )
        cap = min(self._spec.max_output_tokens, tokens_left)
        if price_out > 0:
            cap = min(cap, int(usd_left * 1e6 / price_out))
        if cap < 1:
            raise _Stop("budget_exhausted", "no budget left for a reply")
        return cap

    async def _call(self, phase: str, role: str, messages: list[ChatMessage]) -> ModelResponse:
        assert self._spec is not None
        self._set_phase(phase)
        route, reason = self._spec.routes[role], ""
        if self._spec.consensus is not None:  # consensus policies route every call afresh
            route, reason = await deliberate.route_call(
                self._spec.name,
                phase,
                role,
                messages,
                bool(self._pii.findings),
                self._request.tenant,
            )
        redacting = privacy_steps.action_for(
            self._pii, route, self._request.tenant
        ) == "redact" and bool(self._pii.mapping)
        if redacting:
            messages = [
                ChatMessage(role=m.role, content=pseudonymize(m.content, self._pii.mapping))
                for m in messages
            ]
        cap = self._budget_guard(messages, route.price_input_per_mtok, route.price_output_per_mtok)
        wall_left = (
            self._request.budget.max_wall_seconds - (workflow.now() - self._started).total_seconds()
        )
        handle = workflow.start_activity_method(
            ModelActivities.complete,
            ModelRequest(
                provider_id=route.provider_id,
                role=role,
                phase=phase,
                messages=messages,
                max_output_tokens=cap,
                stream=self._spec.stream,
                task_id=workflow.info().workflow_id,
            ),
            task_queue=route.task_queue,
            start_to_close_timeout=min(
                LLM_CALL.start_to_close, timedelta(seconds=max(wall_left, 1))
            ),
            heartbeat_timeout=timedelta(seconds=self._spec.heartbeat_timeout_seconds),
            retry_policy=LLM_CALL.retry,
            summary=f"{phase}: {role} via {route.provider_id} ({route.model})",
            priority=Priority(priority_key=self._request.priority),
        )
        response: ModelResponse = await self._await(handle)
        if redacting:
            response = response.model_copy(
                update={"text": restore(response.text, self._pii.mapping)}
            )
        self._record(phase, role, response, reason)
        return response

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

    def _record(self, phase: str, role: str, r: ModelResponse, reason: str = "") -> None:
        call = ModelCall.of(phase, role, r, reason=reason)
        self._trace.append(call)
        self._emit("model_call", **call.model_dump(mode="json"))
        self._spend = self._spend.add(call)
        workflow.upsert_search_attributes([search.COST.value_set(self._spend.usd)])

    def _set_phase(self, phase: str) -> None:
        if phase != self._phase:
            self._phase = phase
            workflow.upsert_search_attributes([search.PHASE.value_set(phase)])
            self._emit("phase", phase=phase, round=self._round)

    def _result(self, status: TaskStatusName, reason: str) -> TaskResult:
        best = self._best
        artifacts = [
            Artifact(
                name=f.path,
                kind="tests" if f.path.startswith("test_") else "code",
                content=f.content,
            )
            for f in (best.files if best else [])
        ]
        if best is None:
            answer = self._draft
        else:
            answer = render_files(best.files) if best.files else best.answer
        return TaskResult(
            task_id=workflow.info().workflow_id,
            status=status,
            answer=answer,
            plan=self._plan,
            artifacts=artifacts,
            verification=best.report if best else None,
            verdict=best.verdict if best else None,
            rounds=self._round,
            spend=self._spend,
            trace=list(self._trace),
            reason=reason,
            scripted=any(c.scripted for c in self._trace),
            confidence=deliberate.final_confidence(
                self._consensus,
                best.verdict if best else None,
                best.report if best else None,
                self._spec.consensus.weights if self._spec and self._spec.consensus else _WEIGHTS,
            ),
            roles=role_summaries(self._trace),
            ledger=fold(self._trace),
            consensus=self._consensus,
        )
