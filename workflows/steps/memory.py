"""TaskWorkflow's memory steps: recall before Plan, write-back after Review.

Workflow code (deterministic): only activity calls on the memory queue. Both steps are
skipped when the resolved policy has no memory queue (memory disabled), and a failing
memory never fails the task: it is logged and the task goes on without it. What memory may
be asked and keep is naestro.pii.exposure's call (placeholders, never raw PII).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from activities.memory.activity import MemoryActivities
from naestro.contracts import (
    ChatMessage,
    MemoryUse,
    PiiScanResult,
    PolicySpec,
    TaskRequest,
    TaskResult,
)
from naestro.contracts.memory import Hit, MemoryContext, RecallRequest, WriteBackRequest
from naestro.fencing import fence
from naestro.pii import exposure
from naestro.presets import MEMORY_CALL, MEMORY_WRITE

PATCH = "naestro.memory.v1"
MAX_CONTEXT_CHARS = 1200


def _enabled(spec: PolicySpec | None) -> str | None:
    if spec is None or not spec.memory_task_queue:
        return None
    return spec.memory_task_queue if workflow.patched(PATCH) else None


async def recall(
    spec: PolicySpec | None, request: TaskRequest, pii: PiiScanResult
) -> MemoryContext | None:
    """Context and similar past tasks for the Plan, asked with the redacted prompt (``pii``:
    the task's scan; without it the detected PII is masked). The activity masks the PII
    of what it returns, so the plan prompt never carries retrieved PII raw."""
    queue = _enabled(spec)
    if queue is None:
        return None
    prompt = exposure.for_memory(request.prompt, pii)
    try:
        context: MemoryContext = await workflow.execute_activity_method(
            MemoryActivities.recall,
            RecallRequest(tenant=request.tenant, kind=request.kind, prompt=prompt),
            task_queue=queue,
            start_to_close_timeout=MEMORY_CALL.start_to_close,
            retry_policy=MEMORY_CALL.retry,
            summary="memory: recall context and similar tasks",
        )
    except ActivityError as err:
        workflow.logger.warning("memory recall failed, planning without it: %s", err.cause)
        return None
    return context


def _unverified_answer(hit: Hit) -> bool:
    """A past answer its tests or judge did not accept. It stays out of prompts: a small
    model copies it, wrong tests and all (seen on the embedded 1.5B model), even when told
    it is unverified."""
    return hit.kind == "answer" and not hit.verified


def with_context(messages: list[ChatMessage], context: MemoryContext | None) -> list[ChatMessage]:
    """The plan prompt plus retrieved context, each piece numbered for citation."""
    shown = [] if context is None else [h for h in context.hits if not _unverified_answer(h)]
    if context is None or not (shown or context.similar):
        return messages
    lines = ["", "Context from memory (cite as [n] where you use it):"]
    for n, hit in enumerate(context.hits, 1):
        if _unverified_answer(hit):
            continue  # numbering follows the recalled hits, as citations do
        tag = " (verified answer)" if hit.kind == "answer" else ""
        # Retrieved text is data, never instructions (OWASP LLM01): it goes in a fence.
        body = fence(hit.content[:MAX_CONTEXT_CHARS], "retrieved")
        lines.append(f"[{n}] {hit.citation}{tag}:\n{body}")
    for past in context.similar:
        lines.append(
            f"Similar past task {past.task_id} ({past.status}, {past.tokens} tokens):\n"
            + fence(f"{past.prompt[:300]}\nIts plan:\n{past.plan[:MAX_CONTEXT_CHARS]}", "memory")
        )
    if context.estimated_tokens is not None:
        lines.append(f"Similar successful tasks used about {context.estimated_tokens} tokens.")
    last = messages[-1]
    extra = "\n".join(lines)
    return [*messages[:-1], ChatMessage(role=last.role, content=last.content + "\n" + extra)]


def usage(context: MemoryContext | None) -> MemoryUse | None:
    if context is None:
        return None
    return MemoryUse(
        citations=[h.citation for h in context.hits],
        similar_tasks=[t.task_id for t in context.similar],
        estimated_tokens=context.estimated_tokens,
        estimated_usd=context.estimated_usd,
    )


def _verified(result: TaskResult) -> bool | None:
    if result.status == "succeeded":
        return True
    return False if result.status == "unverified" else None


async def write_back(spec: PolicySpec | None, request: TaskRequest, result: TaskResult) -> None:
    """Store the task, its plan, trace and answer with its verification outcome."""
    queue = _enabled(spec)
    if queue is None or result.status == "cancelled":
        return
    try:
        await workflow.execute_activity_method(
            MemoryActivities.write_back,
            WriteBackRequest(
                task_id=result.task_id,
                tenant=request.tenant,
                kind=request.kind,
                prompt=request.prompt,
                plan=result.plan,
                answer=result.answer,
                status=result.status,
                verified=_verified(result),
                judge_score=result.verdict.score if result.verdict else None,
                tokens=result.spend.tokens,
                usd=result.spend.usd,
                rounds=result.rounds,
                trace=result.trace,
            ),
            task_queue=queue,
            start_to_close_timeout=MEMORY_WRITE.start_to_close,
            retry_policy=MEMORY_WRITE.retry,
            summary=f"memory: write back ({result.status})",
        )
    except ActivityError as err:
        workflow.logger.warning("memory write-back failed: %s", err.cause)
