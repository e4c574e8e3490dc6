"""The Naestro side of bench/stream.py: one streamed model call through the one call path
in a workflow that hosts a live stream, as TaskWorkflow does. Its own side-effect-free
module, so the workflow sandbox can re-import it."""

from __future__ import annotations

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream

from naestro.contracts import ChatMessage, PiiScanResult
from naestro.ledger import LedgerBook
from workflows.steps.calls import CallScope, ModelCaller


@workflow.defn(name="bench.streampath")
class StreamPathWorkflow:
    def __init__(self) -> None:
        self._stream = WorkflowStream()

    @workflow.run
    async def run(self, args: list[str]) -> int:
        prompt, cap, live_ms = args[0], int(args[1]), int(args[2])
        scope = CallScope(
            task_id=workflow.info().workflow_id,
            policy="default",
            tenant="default",
            priority=3,
            pii=PiiScanResult(redacted=prompt),
            max_output_tokens=cap,
            heartbeat_timeout_seconds=300,
            call_attempts=1,
            stream=True,
            live_tokens_ms=live_ms,
        )
        caller = ModelCaller(scope, LedgerBook(max_tokens=10_000_000, max_usd=0.0))
        reply = await caller.text(
            "implementer", "implement", [ChatMessage(role="user", content=prompt)], temperature=0.0
        )
        return reply.usage.output_tokens
