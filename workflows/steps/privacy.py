"""TaskWorkflow's privacy steps: the prompt's PII scan, what memory may keep, and the PII
review of the final answer. What each audience may see is decided in naestro/pii/exposure.py.
Workflow code: deterministic, no I/O but activities."""

from __future__ import annotations

from temporalio import workflow

from activities.pii import PiiActivities
from naestro.contracts import (
    PiiReviewRequest,
    PiiScanRequest,
    PiiScanResult,
    TaskRequest,
    TaskResult,
)
from naestro.pii import exposure
from naestro.presets import LOCAL_FAST


async def scan_prompt(request: TaskRequest) -> PiiScanResult:
    """Find the prompt's PII (a local activity): placeholders and the tenant's actions."""
    scan: PiiScanResult = await workflow.execute_local_activity_method(
        PiiActivities.scan,
        PiiScanRequest(text=request.prompt, tenant=request.tenant),
        start_to_close_timeout=LOCAL_FAST.start_to_close,
        retry_policy=LOCAL_FAST.retry,
        summary="PII scan of the prompt",
    )
    return scan


def redacted_for_memory(
    pii: PiiScanResult, request: TaskRequest, result: TaskResult
) -> tuple[TaskRequest, TaskResult]:
    """Memory stores redacted text only: the prompt's PII stays out of Postgres."""
    if not pii.mapping:
        return request, result
    return request.model_copy(
        update={"prompt": exposure.for_memory(request.prompt, pii)}
    ), result.model_copy(
        update={
            "plan": exposure.for_memory(result.plan, pii),
            "answer": exposure.for_memory(result.answer, pii),
        }
    )


async def review_output(pii: PiiScanResult, result: TaskResult) -> TaskResult:
    """PII scan of the final answer: flag (or redact) PII the user did not supply."""
    if not result.answer:
        return result
    review = await workflow.execute_local_activity_method(
        PiiActivities.review,
        PiiReviewRequest(text=result.answer, mapping=pii.mapping),
        start_to_close_timeout=LOCAL_FAST.start_to_close,
        retry_policy=LOCAL_FAST.retry,
        summary="PII review of the answer",
    )
    return result.model_copy(update={"answer": review.text, "output_pii": review.new_pii})
