"""Human approval and the progress log, held by TaskWorkflow (composition, not a mixin).

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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from activities.approvals import ApprovalActivities
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
from naestro.telemetry import catalogue, flow

PREVIEW_CHARS = 4000
MAX_EVENTS = 2000  # the log is workflow state; a task that runs longer keeps the newest


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ApprovalRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProgressLog:
    """The task's progress events, served by its `events` query (SSE in the API)."""

    def __init__(self, seq: int = 0, on_emit: Callable[[TaskEvent], None] | None = None) -> None:
        """``seq``: the last sequence number of an earlier run (a research job's log goes
        on across continue-as-new, so a client resumes with the number it last saw).
        ``on_emit``: also hands each event there (a workflow's live stream)."""
        self._events: list[TaskEvent] = []
        self._seq = seq
        self._on_emit = on_emit

    @property
    def seq(self) -> int:
        return self._seq

    def emit(self, type_: TaskEventType, **data: Any) -> None:
        self._seq += 1
        event = TaskEvent(seq=self._seq, type=type_, at=workflow.now(), data=data)
        self._events.append(event)
        if self._on_emit is not None:
            self._on_emit(event)
        if len(self._events) > MAX_EVENTS:
            del self._events[0]

    def after(self, seq: int) -> list[TaskEvent]:
        return [e for e in self._events if e.seq > seq]


class ApprovalDesk:
    """The pending approval and the decision that answers it. The workflow declares the
    `approval` update and its validator and hands them to ``decide`` and ``check``."""

    def __init__(self, log: ProgressLog, cancelled: Callable[[], bool]) -> None:
        self._log = log
        self._cancelled = cancelled
        self.pending: ApprovalRequest | None = None
        self._decision: ApprovalDecision | None = None

    def check(self, decision: ApprovalDecision) -> None:
        """The update's validator: refuses stale, unexpected or unasked-for decisions."""
        pending = self.pending
        if pending is None or self._decision is not None:
            raise ValueError("no approval is pending for this task")
        if decision.stage != pending.stage:
            raise ValueError(f"the task waits for {pending.stage} approval, not {decision.stage}")
        if decision.content_hash != pending.content_hash:
            raise ValueError(
                f"stale approval: the {pending.stage} now has hash {pending.content_hash}"
            )

    def decide(self, decision: ApprovalDecision) -> ApprovalOutcome:
        final = decision.action != "comment"
        self._log.emit(
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

    async def gate(
        self, policy: ApprovalPolicy, stage: ApprovalStage, content: str, pii: PiiScanResult
    ) -> None:
        """Wait for approval of `content`; raises ApprovalRejected. Returns when approved.
        `pii` (the task's scan) gives the notification its placeholders."""
        timeout = timedelta(seconds=policy.timeout_seconds)
        notice_preview = exposure.for_notification(content, pii)[:PREVIEW_CHARS]
        escalated = False
        asked = workflow.now()
        while True:
            self._decision = None
            self.pending = ApprovalRequest(
                stage=stage,
                content_hash=content_hash(content),
                preview=content[:PREVIEW_CHARS],
                deadline=workflow.now() + timeout,
                escalated=escalated,
            )
            self._log.emit("approval", event="requested", **self.pending.model_dump(mode="json"))
            await self._notify(self.pending.model_copy(update={"preview": notice_preview}))
            decided = await self._wait_decision(timeout)
            if decided or self._cancelled():
                break
            if policy.on_timeout == "escalate" and not escalated:
                escalated = True
                self._log.emit("approval", event="escalated", stage=stage)
                continue
            outcome = "approve" if policy.on_timeout == "approve" else "reject"
            self._log.emit("approval", event="timeout", stage=stage, outcome=outcome)
            self.pending = None
            _waited(asked, stage, f"timeout_{outcome}")
            if outcome == "reject":
                raise ApprovalRejected(f"{stage} approval timed out: rejected")
            return
        decision, self.pending = self._decision, None
        _waited(asked, stage, decision.action if decision is not None else "cancelled")
        if decision is not None and decision.action == "reject":
            why = f": {decision.comment}" if decision.comment else ""
            raise ApprovalRejected(f"{stage} rejected by {decision.approver}{why}")


def _waited(asked: datetime, stage: str, outcome: str) -> None:
    flow.observe(catalogue.APPROVAL_WAIT, flow.since(asked), stage=stage, outcome=outcome)
