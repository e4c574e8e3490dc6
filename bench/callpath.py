"""The Naestro side of bench/engine.py: N model calls through the one call path (route,
PII action, budget reservation, activity, reconcile), one after another. Its own
side-effect-free module, so the workflow sandbox can re-import it."""

from __future__ import annotations

from temporalio import workflow

from naestro.contracts import ChatMessage, PiiScanResult
from naestro.ledger import LedgerBook
from workflows.steps.calls import CallScope, ModelCaller


@workflow.defn(name="bench.callpath")
class CallPathWorkflow:
    @workflow.run
    async def run(self, args: list[str]) -> list[int]:
        calls, policy, prompt, cap = int(args[0]), args[1], args[2], int(args[3])
        scope = CallScope(
            task_id=workflow.info().workflow_id,
            policy=policy,
            tenant="default",
            priority=3,
            pii=PiiScanResult(redacted=prompt),
            max_output_tokens=cap,
            heartbeat_timeout_seconds=300,
            call_attempts=1,
        )
        caller = ModelCaller(scope, LedgerBook(max_tokens=10_000_000, max_usd=0.0))
        out = []
        for _ in range(calls):
            reply = await caller.text(
                "implementer",
                "implement",
                [ChatMessage(role="user", content=prompt)],
                temperature=0.0,
            )
            out.append(reply.usage.output_tokens)
        return out
