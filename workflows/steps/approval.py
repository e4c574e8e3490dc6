"""Human approval and the progress log, mixed into TaskWorkflow.

Deterministic only: hashes with hashlib, time from workflow.now(). An approval is bound to
the sha256 of the exact plan or answer it approves; the update's validator refuses a
decision for any other content (stale), for another stage, or when nothing is pending, so a
refused decision never reaches the history.

The pending request (status query, events, the web inbox) shows the real text: only the
task's own tenant reads it. The Slack-style notification leaves Naestro, so its preview is
``exposure.for_notification``'s: the prompt's PII as placeholders, other PII masked.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from temporalio import workflow

from activities.approvals import ApprovalActivities
from naestro import names
from naestro.contracts import (
    ApprovalDecision,
    ApprovalNotice,
    ApprovalOutcome,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStage,
    PiiScanResult,
    TaskEvent,
    TaskEventType,
)
from naestro.pii import exposure
from naestro.presets import LOCAL_FAST

PREVIEW_CHARS = 4000
MAX_EVENTS = 2000  # the log is workflow state; a task that runs longer keeps the newest


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ApprovalRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ApprovalGate:
    """Progress events, the `events` query, and the `approval` update with its validator."""

    _events: list[TaskEvent]
    _seq: int
    _pending: ApprovalRequest | None
    _decision: ApprovalDecision | None

    def _init_gate(self) -> None:
        self._events = []
        self._seq = 0
        self._pending = None
        self._decision = None

    def _emit(self, type_: TaskEventType, **data: Any) -> None:
        self._seq += 1
        self._events.append(TaskEvent(seq=self._seq, type=type_, at=workflow.now(), data=data))
        if len(self._events) > MAX_EVENTS:
            del self._events[0]

    @workflow.query(name=names.EVENTS_QUERY)
    def events(self, after: int) -> list[TaskEvent]:
        return [e for e in self._events if e.seq > after]

    @workflow.update(name=names.APPROVAL_UPDATE)
    async def approval(self, decision: ApprovalDecision) -> ApprovalOutcome:
        final = decision.action != "comment"
        self._emit(
            "approval",
            event=decision.action,
            stage=decision.stage,
            approver=decision.approver,
            comment=decision.comment,
            via=decision.via,
        )
        if final:
            self._decision = decision
        return ApprovalOutcome(
            stage=decision.stage, action=decision.action, approver=decision.approver, final=final
        )

    @approval.validator
    def _check_approval(self, decision: ApprovalDecision) -> None:
        pending = self._pending
        if pending is None or self._decision is not None:
            raise ValueError("no approval is pending for this task")
        if decision.stage != pending.stage:
            raise ValueError(f"the task waits for {pending.stage} approval, not {decision.stage}")
        if decision.content_hash != pending.content_hash:
            raise ValueError(
                f"stale approval: the {pending.stage} now has hash {pending.content_hash}"
            )

    def _cancelled(self) -> bool:
        raise NotImplementedError

    async def _wait_decision(self, limit: timedelta) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None or self._cancelled(), timeout=limit
            )
        except TimeoutError:
            return False
        return True

    async def _notify(self, request: ApprovalRequest) -> None:
        await workflow.execute_local_activity_method(
            ApprovalActivities.notify,
            ApprovalNotice(task_id=workflow.info().workflow_id, request=request),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary=f"notify approvers: {request.stage}",
        )

    async def _gate(
        self,
        policy: ApprovalPolicy,
        stage: ApprovalStage,
        content: str,
        *,
        pii: PiiScanResult | None = None,
    ) -> None:
        """Wait for approval of `content`; raises ApprovalRejected. Returns when approved.
        `pii` (the task's scan) gives the notification its placeholders."""
        timeout = timedelta(seconds=policy.timeout_seconds)
        notice_preview = exposure.for_notification(content, pii)[:PREVIEW_CHARS]
        escalated = False
        while True:
            self._decision = None
            self._pending = ApprovalRequest(
                stage=stage,
                content_hash=content_hash(content),
                preview=content[:PREVIEW_CHARS],
                deadline=workflow.now() + timeout,
                escalated=escalated,
            )
            self._emit("approval", event="requested", **self._pending.model_dump(mode="json"))
            await self._notify(self._pending.model_copy(update={"preview": notice_preview}))
            decided = await self._wait_decision(timeout)
            if decided or self._cancelled():
                break
            if policy.on_timeout == "escalate" and not escalated:
                escalated = True
                self._emit("approval", event="escalated", stage=stage)
                continue
            outcome = "approve" if policy.on_timeout == "approve" else "reject"
            self._emit("approval", event="timeout", stage=stage, outcome=outcome)
            self._pending = None
            if outcome == "reject":
                raise ApprovalRejected(f"{stage} approval timed out: rejected")
            return
        decision, self._pending = self._decision, None
        if decision is not None and decision.action == "reject":
            why = f": {decision.comment}" if decision.comment else ""
            raise ApprovalRejected(f"{stage} rejected by {decision.approver}{why}")
