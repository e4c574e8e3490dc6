"""TaskWorkflow's privacy steps: what a provider may see, what memory may keep, and the PII
review of the final answer. Workflow code: deterministic, no I/O but activities."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from activities.pii import PiiActivities
from naestro.contracts import (
    PiiReviewRequest,
    PiiScanResult,
    RoutedProvider,
    TaskRequest,
    TaskResult,
)
from naestro.pii import exposure
from naestro.presets import LOCAL_FAST


def action_for(pii: PiiScanResult, route: RoutedProvider, tenant: str) -> str:
    """The tenant's PII policy for this provider; "block" fails the task, closed."""
    action = pii.cloud_action if route.location == "cloud" else pii.local_action
    if action == "block" and pii.findings:
        kinds = sorted({f.entity_type for f in pii.findings})
        raise ApplicationError(
            f"PII policy of tenant {tenant!r} blocks sending "
            f"{', '.join(kinds)} to {route.location} provider {route.provider_id}",
            type="PiiPolicyBlocked",
            non_retryable=True,
        )
    return action


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
