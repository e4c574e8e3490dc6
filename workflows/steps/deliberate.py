"""TaskWorkflow's side of consensus: when a phase deliberates, the child's request and
running it (cancellable). Deterministic helpers only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

from naestro.contracts import (
    ChatMessage,
    ConsensusRequest,
    ConsensusResult,
    ModelCall,
    PiiScanResult,
    PolicySpec,
    TaskRequest,
)
from naestro.ledger import LedgerBook
from workflows.consensus import ConsensusWorkflow
from workflows.steps.calls import BUDGET_ERROR

PATCH_ID = "naestro-consensus-v1"


class ConsensusStopped(Exception):
    """The child ran out of budget, or the task was cancelled while it deliberated.
    ``calls``: what it spent before it stopped (budget; runs that report it)."""

    def __init__(self, status: str, reason: str, calls: list[ModelCall] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.calls = calls or []


def wants_consensus(spec: PolicySpec | None, phase: str) -> bool:
    return spec is not None and spec.consensus is not None and phase in spec.consensus.phases


def consensus_request(
    request: TaskRequest,
    spec: PolicySpec,
    pii: PiiScanResult,
    phase: str,
    messages: list[ChatMessage],
    book: LedgerBook,
    deadline: datetime | None,
) -> ConsensusRequest:
    """The child's request: the task's PII scan, and what is left of its budget."""
    assert spec.consensus is not None
    return ConsensusRequest(
        task_id=workflow.info().workflow_id,
        policy=spec.name,
        phase=phase,
        kind=request.kind,
        task=request.prompt,
        messages=messages,
        consensus=spec.consensus,
        pii_mapping=pii.mapping,
        tokens_left=max(1, book.tokens_left()),
        usd_left=max(0.0, book.usd_left()),
        max_output_tokens=spec.max_output_tokens,
        heartbeat_timeout_seconds=spec.heartbeat_timeout_seconds,
        priority=request.priority,
        sandbox_task_queue=spec.sandbox_task_queue if request.kind == "code" else "",
        verify_timeout_seconds=spec.verify_timeout_seconds,
        tenant=request.tenant,
        pii=pii,
        deadline=deadline,
        gpu_seconds_left=book.gpu_seconds_left(),
        stream=spec.stream,
        call_attempts=spec.call_attempts,
        review=spec.review,
        temperature=spec.temperature,
    )


def _spent(cause: ApplicationError) -> list[ModelCall]:
    """The calls a child that ran out of budget reports in its failure's details."""
    raw = cause.details[0] if cause.details else None
    return [ModelCall.model_validate(c) for c in raw] if isinstance(raw, list) else []


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
            stop = f"consensus: {cause.message}"
            raise ConsensusStopped("budget_exhausted", stop, _spent(cause)) from err
        raise ApplicationError(
            f"{request.phase} consensus failed: {cause or err}",
            type="TaskFailed",
            non_retryable=True,
        ) from err
