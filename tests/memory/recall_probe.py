"""A workflow that runs only the memory recall step, with the scan a task would pass it
(its own module: the workflow sandbox imports it afresh, so it imports nothing heavy)."""

from __future__ import annotations

from temporalio import workflow

from naestro.contracts import PiiScanResult, PolicySpec, TaskRequest
from naestro.contracts.base import Frozen
from naestro.contracts.memory import MemoryContext
from workflows.steps import memory as memory_steps


class Probe(Frozen):
    spec: PolicySpec
    request: TaskRequest
    pii: PiiScanResult


@workflow.defn(name="test.memory.recall-probe")
class RecallProbe:
    @workflow.run
    async def run(self, probe: Probe) -> MemoryContext | None:
        return await memory_steps.recall(probe.spec, probe.request, probe.pii)
