"""ResearchWorkflow's steps that reach outside it: the research store (Postgres, on the
memory queue: activities/research, called by name so this module does not depend on
it), memory search, and gathering one question (one implementer call over the retrieved
sources, or a child TaskWorkflow). Deterministic workflow code: activities only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from activities.memory.activity import MemoryActivities
from activities.routing.activity import RoutingActivities
from naestro import names
from naestro.contracts import (
    Budget,
    ModelCall,
    PiiScanResult,
    PolicySpec,
    RouteRequest,
    TaskRequest,
    TaskResult,
)
from naestro.contracts.memory import Hit, SearchRequest, SearchResult
from naestro.contracts.research import (
    Citation,
    Finding,
    FindingHead,
    FindingsQuery,
    Question,
    ResearchRequest,
    SavedReport,
    SaveFindings,
)
from naestro.ledger import LedgerBook
from naestro.parsing import estimate_tokens
from naestro.pii import exposure
from naestro.pii.redaction import restore
from naestro.presets import LOCAL_FAST, MEMORY_CALL
from naestro.research import prompts
from naestro.research.prompts import Source
from workflows.steps.calls import BUDGET_ERROR, CallScope, ModelCaller

SEARCH_HITS = 4
CHILD_WALL_SECONDS = 1800  # a child task's wall time at most (less when the job's ends sooner)
NEEDS_MEMORY = "research needs memory.enabled (Postgres keeps its findings)"


async def resolve_policy(request: ResearchRequest, goal: str, pii: PiiScanResult) -> PolicySpec:
    """The policy's settings and a first provider per role (as a task resolves its own)."""
    spec: PolicySpec = await workflow.execute_local_activity_method(
        RoutingActivities.resolve_policy,
        RouteRequest(
            policy=request.policy,
            roles=["planner", "implementer", "refiner", "judge"],
            prompt_tokens=estimate_tokens(goal),
            contains_pii=bool(pii.findings),
            tenant=request.tenant,
        ),
        start_to_close_timeout=LOCAL_FAST.start_to_close,
        retry_policy=LOCAL_FAST.retry,
        summary=f"route policy {request.policy}",
    )
    return spec


def call_scope(
    spec: PolicySpec,
    request: ResearchRequest,
    job_id: str,
    pii: PiiScanResult,
    deadline: datetime,
) -> CallScope:
    """What every model call of the job shares; ``deadline``: its time budget's end."""
    return CallScope(
        task_id=job_id,
        policy=spec.name,
        tenant=request.tenant,
        priority=request.priority,
        pii=pii,
        max_output_tokens=spec.max_output_tokens,
        heartbeat_timeout_seconds=spec.heartbeat_timeout_seconds,
        call_attempts=spec.call_attempts,
        deadline=deadline,
        stream=spec.stream,
    )


@dataclass(frozen=True)
class Store:
    """The job's findings and reports in Postgres, by reference."""

    job_id: str
    tenant: str
    queue: str

    async def save_findings(self, iteration: int, findings: list[Finding]) -> list[FindingHead]:
        heads: list[FindingHead] = await self._call(
            names.RESEARCH_SAVE_FINDINGS,
            SaveFindings(
                job_id=self.job_id, tenant=self.tenant, iteration=iteration, findings=findings
            ),
            list[FindingHead],
            f"store {len(findings)} finding(s) of iteration {iteration}",
        )
        return heads

    async def findings(self, max_chars: int) -> list[Finding]:
        found: list[Finding] = await self._call(
            names.RESEARCH_FINDINGS,
            FindingsQuery(job_id=self.job_id, max_chars=max_chars),
            list[Finding],
            "load the findings for the report",
        )
        return found

    async def save_report(
        self,
        iteration: int,
        kind: Literal["digest", "final"],
        text: str,
        citations: list[Citation],
    ) -> int:
        report = SavedReport(
            job_id=self.job_id,
            tenant=self.tenant,
            iteration=iteration,
            kind=kind,
            text=text,
            citations=citations,
        )
        report_id: int = await self._call(
            names.RESEARCH_SAVE_REPORT, report, int, f"store the {kind} report"
        )
        return report_id

    async def _call(self, name: str, arg: object, result_type: type, summary: str) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                task_queue=self.queue,
                start_to_close_timeout=MEMORY_CALL.start_to_close,
                retry_policy=MEMORY_CALL.retry,
                summary=summary,
            )
        except ActivityError as err:
            raise ApplicationError(
                f"research store: {summary} failed: {err.cause or err}",
                type="ResearchStoreError",
                non_retryable=True,
            ) from err


async def search(queue: str, tenant: str, query: str) -> list[Source]:
    """Passages from memory for a question (``query``: as memory may be asked it, with
    placeholders); a failing memory gives none, and the question is answered without."""
    try:
        result: SearchResult = await workflow.execute_activity_method(
            MemoryActivities.search,
            SearchRequest(query=query, tenant=tenant, k=SEARCH_HITS),
            task_queue=queue,
            start_to_close_timeout=MEMORY_CALL.start_to_close,
            retry_policy=MEMORY_CALL.retry,
            summary="memory: search for a research question",
        )
    except ActivityError as err:
        workflow.logger.warning("memory search failed, answering without it: %s", err.cause)
        return []
    return [_source(h) for h in result.hits]


def _source(hit: Hit) -> Source:
    # Retrieved text reaches a prompt with its PII masked for good (exposure.for_context).
    text = exposure.for_context(hit.content)
    where = f"{hit.source} › {hit.heading}" if hit.heading else hit.source
    ref = f"chunk {hit.chunk_id}" + (f" of document {hit.document_id}" if hit.document_id else "")
    quote = " ".join(text.split())[: prompts.QUOTE_CHARS]
    return Source(Citation(source=where, ref=ref, quote=quote), text)


def finding(question: Question, iteration: int, text: str, sources: list[Source]) -> Finding:
    """A question's answer as a finding, citing the sources its text cites."""
    return Finding(
        question_id=question.id,
        question=question.text,
        text=text,
        citations=prompts.cited(text, sources),
        iteration=iteration,
    )


def share(book: LedgerBook, parts: int, seconds_left: float) -> Budget | None:
    """A child task's budget: an equal part of what the job has left (None: nothing)."""
    tokens = book.tokens_left() // parts
    if tokens < 1 or seconds_left < 1:
        return None
    return Budget(
        max_tokens=tokens,
        max_usd=max(0.0, book.usd_left() / parts),
        max_wall_seconds=int(min(CHILD_WALL_SECONDS, seconds_left)),
    )


async def as_task(
    request: ResearchRequest, goal: str, question: Question, iteration: int, budget: Budget
) -> tuple[Finding, list[ModelCall]]:
    """One question as a child TaskWorkflow (planned, judged, with memory of its own): its
    answer is the finding, its calls join the job's spend."""
    job_id = workflow.info().workflow_id
    ask = TaskRequest(
        prompt=prompts.task_prompt(goal, question),
        kind=request.kind,
        priority=request.priority,
        budget=budget,
        policy=request.policy,
        tenant=request.tenant,
    )
    try:
        result: TaskResult = await workflow.execute_child_workflow(
            names.TASK_WORKFLOW,
            ask,
            id=f"{job_id}-i{iteration}-{question.id}",
            task_queue=workflow.info().task_queue,
            result_type=TaskResult,
            static_summary=f"research {question.id}, iteration {iteration}",
            priority=Priority(priority_key=request.priority),
        )
    except ChildWorkflowError as err:  # the question is closed with why it has no answer
        text = f"(no answer: its task failed: {err.cause or err})"
        return _finding(question, iteration, text, [Citation(source="model")]), []
    used = result.memory.citations if result.memory else []
    citations = [Citation(source=c) for c in used] or [Citation(source="model")]
    text = result.answer or f"(no answer: its task ended {result.status}: {result.reason})"
    return _finding(question, iteration, text, citations), result.trace


def _finding(question: Question, iteration: int, text: str, cites: list[Citation]) -> Finding:
    return Finding(
        question_id=question.id,
        question=question.text,
        text=text,
        citations=cites,
        iteration=iteration,
    )


def for_store(findings: list[Finding], pii: PiiScanResult) -> list[Finding]:
    """Findings as the store may keep them: placeholders, never the job's raw PII."""
    return [
        f.model_copy(
            update={
                "text": exposure.for_memory(f.text, pii),
                "question": exposure.for_memory(f.question, pii),
            }
        )
        for f in findings
    ]


async def write_report(
    caller: ModelCaller, goal: str, findings: list[Finding], why: str, pii: PiiScanResult
) -> tuple[str, list[Citation]]:
    """The refiner's report from the stored findings, with their citations numbered and
    listed; from the findings alone when the budget has nothing left for a call. The
    findings hold placeholders: the report gets the job's values back."""
    if not findings:
        return prompts.assembled(goal, [], why), []
    citations, _ = prompts.numbered(findings)
    try:
        reply = await caller.text("refiner", "report", prompts.report(goal, findings))
        text = prompts.with_citations(reply.text, citations)
    except ApplicationError as err:
        if err.type != BUDGET_ERROR:
            raise
        text = prompts.assembled(goal, findings, f"stopped: {why}")
    return restore(text, pii.mapping), citations
