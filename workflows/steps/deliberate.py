"""TaskWorkflow's side of consensus: when a phase deliberates, the child's request, running
it (cancellable), and the result's confidence. Deterministic helpers only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

from activities.routing.calls import CallRouting
from naestro import confidence as conf
from naestro.contracts import (
    CallRouteRequest,
    ChatMessage,
    ConfidenceWeights,
    ConsensusRequest,
    ConsensusResult,
    ConsensusSummary,
    JudgeVerdict,
    PiiScanResult,
    PolicySpec,
    RoutedProvider,
    Spend,
    TaskRequest,
    VerificationReport,
)
from naestro.presets import LOCAL_FAST
from workflows.consensus import ConsensusWorkflow
from workflows.steps.calls import BUDGET_ERROR

PATCH_ID = "naestro-consensus-v1"


class ConsensusStopped(Exception):
    """The child ran out of budget, or the task was cancelled while it deliberated."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def wants_consensus(spec: PolicySpec | None, phase: str) -> bool:
    return spec is not None and spec.consensus is not None and phase in spec.consensus.phases


def consensus_request(
    request: TaskRequest,
    spec: PolicySpec,
    pii: PiiScanResult,
    phase: str,
    messages: list[ChatMessage],
    spend: Spend,
) -> ConsensusRequest:
    assert spec.consensus is not None
    budget = request.budget
    return ConsensusRequest(
        task_id=workflow.info().workflow_id,
        policy=spec.name,
        phase=phase,
        kind=request.kind,
        task=request.prompt,
        messages=messages,
        consensus=spec.consensus,
        pii_mapping=pii.mapping,
        tokens_left=max(1, budget.max_tokens - spend.tokens),
        usd_left=max(0.0, budget.max_usd - spend.usd),
        max_output_tokens=spec.max_output_tokens,
        heartbeat_timeout_seconds=spec.heartbeat_timeout_seconds,
        priority=request.priority,
        sandbox_task_queue=spec.sandbox_task_queue if request.kind == "code" else "",
        verify_timeout_seconds=spec.verify_timeout_seconds,
        tenant=request.tenant,
    )


async def deliberate(
    request: ConsensusRequest, round_number: int, cancelled: Callable[[], str | None]
) -> ConsensusResult:
    """Run ConsensusWorkflow as a child; a cancel signal cancels it."""
    workflow.patched(PATCH_ID)
    child = asyncio.ensure_future(
        workflow.execute_child_workflow(
            ConsensusWorkflow.run,
            request,
            id=f"{request.task_id}-consensus-{request.phase}-{round_number}",
            task_queue=workflow.info().task_queue,
            static_summary=f"consensus for {request.phase}",
        )
    )
    await workflow.wait_condition(lambda: child.done() or cancelled() is not None)
    if not child.done():
        child.cancel()
        raise ConsensusStopped("cancelled", cancelled() or "cancelled")
    try:
        return child.result()
    except ChildWorkflowError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == BUDGET_ERROR:
            raise ConsensusStopped("budget_exhausted", f"consensus: {cause.message}") from err
        raise ApplicationError(
            f"{request.phase} consensus failed: {cause or err}",
            type="TaskFailed",
            non_retryable=True,
        ) from err


def final_confidence(
    summary: ConsensusSummary | None,
    verdict: JudgeVerdict | None,
    report: VerificationReport | None,
    weights: ConfidenceWeights,
) -> float | None:
    """The task's confidence: the consensus's agreement and critic scores (when it
    deliberated), the final judge verdict and the final verification."""
    parts = dict(summary.components) if summary is not None else {}
    parts.pop("judge", None)
    if verdict is None and summary is not None and "judge" in summary.components:
        parts["judge"] = summary.components["judge"]
    parts.update(conf.components(None, None, verdict, report))
    if not parts:
        return None
    return conf.confidence(parts, weights, verdict)


async def route_call(
    policy: str,
    phase: str,
    role: str,
    messages: list[ChatMessage],
    contains_pii: bool,
    tenant: str = "default",
) -> tuple[RoutedProvider, str]:
    """One of the task's own calls routed afresh (breakers, context length, SLM ramp)."""
    route = await workflow.execute_local_activity_method(
        CallRouting.route_call,
        CallRouteRequest(
            policy=policy,
            role=role,
            phase=phase,
            messages=messages,
            contains_pii=contains_pii,
            slm_draw=workflow.random().random(),
            tenant=tenant,
        ),
        start_to_close_timeout=LOCAL_FAST.start_to_close,
        retry_policy=LOCAL_FAST.retry,
        summary=f"route {phase}/{role}",
    )
    return route.provider, route.reason
