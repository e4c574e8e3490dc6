"""ConsensusWorkflow: proposers || -> critics || -> synthesizer -> judge -> confidence.

Run as a child of TaskWorkflow for the phases a policy's ``consensus:`` section names.
Proposals that agree (normalised equality) skip critics and synthesis; a confidence below
the policy's threshold runs another round with the judge's rationale, or waits for a human
review signal, as the policy says. Every call is routed on its own (workflows/steps/calls.py).

Code under ``selection: tests``: every proposal runs its tests and the task's examples in
the sandbox and the best-ranked one is the answer (the judge picks among proposals their
tests cannot separate); ``adaptive`` draws the other proposals only when the first fails;
``review: unverified`` asks no judge about an answer its tests verified.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

from naestro import confidence as conf
from naestro import consensus_prompts as cp
from naestro import names, quality
from naestro.contracts import (
    ChatMessage,
    Choice,
    ConsensusRequest,
    ConsensusResult,
    ConsensusSummary,
    Critique,
    HumanReview,
    JudgeVerdict,
    Ledger,
    PiiFinding,
    PiiScanResult,
    VerificationReport,
)
from naestro.examples import Example, task_examples
from naestro.ledger import LedgerBook
from workflows.steps.calls import BUDGET_ERROR, CallScope, ModelCaller
from workflows.steps.verify import same_passing_outcomes, verify_all

WORKFLOW_NAME = names.CONSENSUS_WORKFLOW
TASK_EXAMPLES = "naestro.task-examples"  # as TaskWorkflow's: proposals run the task's examples
# Runs before it failed on budget without telling the parent what they had spent.
SPENT_ON_FAILURE = "naestro.consensus-spent-on-failure"
# Runs started before it drew more proposals when the first held no test at all.
ADAPTIVE_NO_TESTS = "naestro.adaptive-no-tests"
T = TypeVar("T")


def _scan(request: ConsensusRequest) -> PiiScanResult:
    """The task's PII scan; requests from before it travelled carry only the mapping, under
    the rule of that time (cloud providers get placeholders, local ones the text)."""
    if request.pii is not None:
        return request.pii
    legacy = [PiiFinding(entity_type="PII", start=0, end=0, score=1.0, detector="legacy")]
    return PiiScanResult(
        redacted="",
        mapping=request.pii_mapping,
        findings=legacy if request.pii_mapping else [],
        cloud_action="redact",
        local_action="allow",
    )


def call_scope(request: ConsensusRequest) -> CallScope:
    """The child's calls follow the task's rules: its PII scan, deadline and priority."""
    return CallScope(
        task_id=request.task_id,
        policy=request.policy,
        tenant=request.tenant,
        priority=request.priority,
        pii=_scan(request),
        max_output_tokens=request.max_output_tokens,
        heartbeat_timeout_seconds=request.heartbeat_timeout_seconds,
        call_attempts=request.call_attempts or request.consensus.call_attempts,
        deadline=request.deadline,
        stream=request.stream,
    )


async def _settled(*calls: Awaitable[T]) -> list[T]:
    """Every call's result, or the first failure once *all* have settled. Failing while a
    sibling's routing (a local activity) is still resolving would put its marker after the
    workflow's failure, which the server rejects: the workflow task is retried until the
    run times out (temporalio/sdk-rust#659). Parallel calls fail together at a deadline."""
    settled: list[T] = []
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        settled.append(result)
    return settled


@dataclass(frozen=True)
class _Round:
    answer: str
    proposals: list[str]
    critiques: list[Critique]
    verdict: JudgeVerdict | None  # None: the answer's tests verified it (review: unverified)
    summary: ConsensusSummary


@workflow.defn(
    name=WORKFLOW_NAME,
    failure_exception_types=[ApplicationError],
    versioning_behavior=VersioningBehavior.PINNED,  # a task's deliberation: its parent's code
)
class ConsensusWorkflow:
    def __init__(self) -> None:
        self._book = LedgerBook(max_tokens=1, max_usd=0.0)
        self._human: HumanReview | None = None

    @workflow.query(name=names.LEDGER_QUERY)
    def ledger(self) -> Ledger:
        return self._book.view()

    @workflow.signal(name=names.HUMAN_REVIEW_SIGNAL)
    def human_review(self, review: HumanReview) -> None:
        self._human = review

    @workflow.run
    async def run(self, request: ConsensusRequest) -> ConsensusResult:
        self._book = LedgerBook(
            max_tokens=request.tokens_left,
            max_usd=request.usd_left,
            max_gpu_seconds=request.gpu_seconds_left,
        )
        caller = ModelCaller(call_scope(request), self._book)
        self._examples: list[Example] = []
        if request.sandbox_task_queue and workflow.patched(TASK_EXAMPLES):
            self._examples = task_examples(request.task)
        try:
            last = await self._rounds(caller, request)
        except ApplicationError as err:
            if err.type != BUDGET_ERROR or not workflow.patched(SPENT_ON_FAILURE):
                raise
            # The calls this child made before the budget ran out are the task's spend too.
            spent = [c.model_dump(mode="json") for c in self._book.calls]
            raise ApplicationError(
                err.message, spent, type=BUDGET_ERROR, non_retryable=True
            ) from None
        summary = await self._maybe_human(request, last.summary)
        await caller.report()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConsensusResult(
            answer=last.answer,
            verdict=last.verdict,
            summary=summary,
            proposals=last.proposals,
            critiques=last.critiques,
            calls=list(self._book.calls),
        )

    async def _rounds(self, caller: ModelCaller, request: ConsensusRequest) -> _Round:
        policy, messages = request.consensus, request.messages
        last: _Round | None = None
        for number in range(1, policy.max_rounds + 1):
            last = await self._round(caller, request, messages, number)
            if last.summary.confidence >= policy.confidence_threshold:
                break
            if policy.on_low_confidence != "round":
                break
            rationale = last.verdict.rationale if last.verdict else ""
            messages = cp.with_feedback(request.messages, last.answer, rationale)
        assert last is not None
        return last

    async def _round(
        self,
        caller: ModelCaller,
        request: ConsensusRequest,
        messages: list[ChatMessage],
        number: int,
    ) -> _Round:
        policy, phase = request.consensus, request.phase
        proposals, reports = await self._proposals(caller, request, messages)
        groups = conf.agreement_groups(proposals)
        critiques: list[Critique] = []
        critic_score: float | None = None
        report: VerificationReport | None = None
        if len(groups[0]) == len(proposals) and len(proposals) > 1:
            answer, early = proposals[0], "proposals agree: synthesis skipped"
            report = reports[0] if reports else None
        elif len(proposals) > 1 and same_passing_outcomes(reports):
            answer, early = proposals[0], "identical verification outcomes: synthesis skipped"
            report = reports[0]
        elif policy.selection == "tests" and reports:
            index, early = await self._select(caller, request, proposals, reports)
            answer, report = proposals[index], reports[index]
        else:
            early = ""
            critiques = list(
                await _settled(
                    *(
                        caller.structured(
                            Critique,
                            "critic",
                            phase,
                            cp.critic(request.kind, request.task, proposals),
                            prefer=j,
                        )
                        for j in range(policy.critics)
                    )
                )
            )
            scores = [s for s in conf.proposal_scores(critiques, len(proposals)) if s is not None]
            critic_score = max(scores) if scores else None
            synth = cp.synthesizer(request.kind, request.task, proposals, critiques)
            answer = (await caller.text("synthesizer", phase, synth)).text
        verdict: JudgeVerdict | None = None
        if request.review != "unverified" or not quality.passed_tests(report):
            verdict = await caller.structured(
                JudgeVerdict, "judge", phase, cp.judge(request.kind, request.task, answer)
            )
        parts = conf.components(conf.agreement(proposals), critic_score, verdict, report)
        summary = ConsensusSummary(
            confidence=conf.confidence(parts, policy.weights, verdict),
            components=parts,
            rounds=number,
            early_exit=early,
            proposals=len(proposals),
            critiques=len(critiques),
        )
        return _Round(answer, proposals, critiques, verdict, summary)

    async def _proposals(
        self, caller: ModelCaller, request: ConsensusRequest, messages: list[ChatMessage]
    ) -> tuple[list[str], list[VerificationReport]]:
        """The proposals and their verification reports (none unless code). Adaptive: the
        first proposal alone, at the policy's temperature; the others only when its tests
        failed (or it held no code)."""
        policy, examples = request.consensus, self._examples
        if policy.adaptive and request.sandbox_task_queue and policy.proposers > 1:
            first = await self._propose(caller, request, messages, 0, 1, request.temperature)
            reports = await verify_all(request, first, examples)
            if quality.passed_tests(reports[0]):
                return first, reports
            # Code that holds no test at all (no examples, none of its own) did not fail:
            # the task's judge decides, as for one call, rather than a tie among draws.
            if quality.no_tests(reports[0]) and workflow.patched(ADAPTIVE_NO_TESTS):
                return first, reports
            rest = await self._propose(caller, request, messages, 1, policy.proposers - 1)
            return first + rest, reports + await verify_all(request, rest, examples, first=1)
        proposals = await self._propose(caller, request, messages, 0, policy.proposers)
        return proposals, await verify_all(request, proposals, examples)

    async def _propose(
        self,
        caller: ModelCaller,
        request: ConsensusRequest,
        messages: list[ChatMessage],
        start: int,
        count: int,
        temperature: float | None = None,
    ) -> list[str]:
        """Proposals ``start`` .. ``start + count - 1``: the same (first) provider sampled
        (self-consensus), else proposer i preferring the role's i-th provider."""
        policy, phase = request.consensus, request.phase
        if policy.self_consensus:
            heat = policy.self_temperature if temperature is None else temperature
            calls = [
                caller.text("proposer", phase, messages, temperature=heat) for _ in range(count)
            ]
        else:
            calls = [
                caller.text("proposer", phase, messages, prefer=i)
                if temperature is None
                else caller.text("proposer", phase, messages, prefer=i, temperature=temperature)
                for i in range(start, start + count)
            ]
        return [r.text for r in await _settled(*calls)]

    async def _select(
        self,
        caller: ModelCaller,
        request: ConsensusRequest,
        proposals: list[str],
        reports: list[VerificationReport],
    ) -> tuple[int, str]:
        """The proposal its tests rank best; among proposals tied below a pass, the judge's
        pick. Returns its position and how it was chosen."""
        order = quality.ranked(reports)
        top = quality.test_score(reports[order[0]])
        tied = [i for i in order if quality.test_score(reports[i]) == top]
        if len(tied) == 1 or reports[order[0]].passed:
            return order[0], f"selected by tests ({top:.2f}) from {len(proposals)} proposal(s)"
        choice = await caller.structured(
            Choice,
            "judge",
            request.phase,
            cp.choose(request.kind, request.task, [proposals[i] for i in tied]),
        )
        picked = tied[min(choice.proposal, len(tied)) - 1]
        return picked, f"tests tied ({top:.2f}) across {len(tied)}: the judge chose"

    async def _maybe_human(
        self, request: ConsensusRequest, summary: ConsensusSummary
    ) -> ConsensusSummary:
        policy = request.consensus
        if summary.confidence >= policy.confidence_threshold or policy.on_low_confidence != "human":
            return summary
        try:
            await workflow.wait_condition(
                lambda: self._human is not None,
                timeout=timedelta(seconds=policy.human_review_timeout_seconds),
            )
        except TimeoutError:
            return summary.model_copy(
                update={"needs_human_review": True, "human_decision": "timeout"}
            )
        assert self._human is not None
        return summary.model_copy(
            update={"needs_human_review": True, "human_decision": self._human.decision}
        )
