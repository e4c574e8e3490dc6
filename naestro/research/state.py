"""A research job's state from iteration to iteration: its questions, the heads of its
findings, the judge's progress, what it spent, why it stops, and when a run hands over to
the next (continue-as-new) before its history grows past the bound set here.

Every function returns a new ResearchState; none keeps a finding's text (Postgres does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from naestro.contracts import ModelCall
from naestro.contracts.research import (
    MAX_QUESTION_CHARS,
    Citation,
    FindingHead,
    Question,
    ResearchRequest,
    ResearchResult,
    ResearchSpend,
    ResearchState,
    ResearchStatusName,
    ResearchView,
    StopReason,
)
from naestro.contracts.text import clean_prompt

MAX_RECENT = 20  # findings' heads kept in the state (the planner and judge see these)
MAX_PROGRESS = 5  # the judge's last scores
MAX_CLOSED = 200  # answered or dropped questions kept (their findings stay stored)
HEADLINE_CHARS = 200

# The bound on one run's history, asserted by tests/research: a run continues as new
# before it could pass either, keeping room for its largest iteration twice over plus the
# reserve (the final report, steering updates). The server's own limits are 51,200 events
# and 50 MB; a run this small also replays in milliseconds after a worker restart.
HISTORY_MAX_EVENTS = 2_000
HISTORY_MAX_BYTES = 2_000_000
RESERVE_EVENTS = 200
RESERVE_BYTES = 256_000
# NaestroStatus once a job has ended, by its stop reason (while it runs: the view's status)
FINAL_STATUS: dict[StopReason, str] = {
    "converged": "succeeded",
    "stopped": "stopped",  # a person stopped it
    "budget": "budget_exhausted",
    "iterations": "budget_exhausted",
    "time": "budget_exhausted",
    "no_questions": "unconverged",  # the planner had nothing left to ask
    "failed": "failed",
    "": "failed",
}


def question_id(n: int) -> str:
    return f"q{n}"


def normalized(text: str) -> str:
    """A question as compared for duplicates: case and spacing ignored."""
    return " ".join(text.lower().split())


def start(request: ResearchRequest, now: datetime) -> ResearchState:
    """A new job's state: the request's questions (duplicates once) as q1, q2, ..."""
    state = ResearchState(
        goal=request.goal.strip(),
        budget=request.budget,
        started_at=now,
        last_digest_at=now,
        next_at=now,
    )
    state, _ = add_questions(state, request.questions, "user", 1)
    return state


def open_questions(state: ResearchState) -> list[Question]:
    return [q for q in state.questions if q.status == "open"]


def asking(state: ResearchState, text: str) -> Question | None:
    """The open or answered question that already asks ``text`` (dropped ones may return)."""
    key = normalized(text)
    return next(
        (q for q in state.questions if q.status != "dropped" and normalized(q.text) == key),
        None,
    )


def add_questions(
    state: ResearchState,
    texts: Iterable[str],
    source: Literal["user", "planner"],
    iteration: int,
) -> tuple[ResearchState, list[Question]]:
    """New questions with the next ids; empty ones and repeats are left out."""
    added: list[Question] = []
    for raw in texts:
        text = " ".join(raw.split())[:MAX_QUESTION_CHARS]
        if not text or asking(state, text) is not None:
            continue
        n = state.questions_asked + 1
        question = Question(
            id=question_id(n),
            text=text,
            source=source,
            asked_at=iteration,
        )
        state = state.model_copy(
            update={"questions": [*state.questions, question], "questions_asked": n}
        )
        added.append(question)
    return state, added


def record_findings(
    state: ResearchState, heads: list[FindingHead], iteration: int
) -> ResearchState:
    """The iteration's stored findings: their questions answered, their heads kept."""
    answered = {h.question_id for h in heads}
    questions = [
        q.model_copy(update={"status": "answered"}) if q.id in answered and q.status == "open"
        else q
        for q in state.questions
    ]  # fmt: skip
    return state.model_copy(
        update={
            "questions": _pruned(questions),
            "recent": [*state.recent, *heads][-MAX_RECENT:],
            "findings": state.findings + len(heads),
            "iteration": iteration,
        }
    )


def _pruned(questions: list[Question]) -> list[Question]:
    """Every open question and the newest MAX_CLOSED closed ones, in id order."""
    closed = [q for q in questions if q.status != "open"]
    gone = {q.id for q in closed[: max(0, len(closed) - MAX_CLOSED)]}
    return [q for q in questions if q.id not in gone]


def record_progress(state: ResearchState, score: float) -> ResearchState:
    return state.model_copy(update={"progress": [*state.progress, score][-MAX_PROGRESS:]})


def headline(text: str) -> str:
    """A finding's first words, as the state keeps them."""
    line = " ".join(text.split())
    return line if len(line) <= HEADLINE_CHARS else line[: HEADLINE_CHARS - 1] + "…"


def deadline(state: ResearchState) -> datetime:
    assert state.started_at is not None, "a job's state is made by start()"
    return state.started_at + timedelta(hours=state.budget.max_hours)


def limit_reason(state: ResearchState, now: datetime) -> StopReason | None:
    """Before an iteration: a person's stop, the iteration budget, the time budget."""
    if state.stop_requested:
        return "stopped"
    if state.iteration >= state.budget.max_iterations:
        return "iterations"
    if now >= deadline(state):
        return "time"
    return None


def converged(state: ResearchState, convergence: float) -> bool:
    return bool(state.progress) and state.progress[-1] >= convergence


def spend(prior: ResearchSpend, calls: Iterable[ModelCall]) -> ResearchSpend:
    """Earlier runs' spend plus this run's calls."""
    tokens, usd, count = prior.tokens, prior.usd, prior.model_calls
    for call in calls:
        tokens += call.input_tokens + call.output_tokens
        usd += call.cost_usd
        count += 1
    return ResearchSpend(tokens=tokens, usd=round(usd, 10), model_calls=count)


def run_limits(state: ResearchState, prior: ResearchSpend) -> tuple[int, float]:
    """What this run's ledger may spend (tokens, USD): the budget less earlier runs' spend."""
    return state.budget.max_tokens - prior.tokens, state.budget.max_usd - prior.usd


def scan_text(request: ResearchRequest, state: ResearchState) -> str:
    """The text the job scans for PII: its first goal, its goal now, the user's questions."""
    texts = [request.goal, state.goal, *(q.text for q in state.questions if q.source == "user")]
    return clean_prompt("\n".join(dict.fromkeys(texts)))  # a redirect's goal: unchecked


def digest(state: ResearchState) -> str:
    """A digest from the heads alone (no model call): where the job stands."""
    score = f"{state.progress[-1]:.2f}" if state.progress else "not judged yet"
    lines = [
        f"Digest after iteration {state.iteration}: {state.findings} finding(s), progress {score}.",
        f"Goal: {state.goal}",
        f"Open questions: {len(open_questions(state))}",
    ]
    for head in state.recent[-10:]:
        sources = f" [{', '.join(head.sources)}]" if head.sources else ""
        lines.append(f"- {head.question_id} (iteration {head.iteration}): {head.headline}{sources}")
    return "\n".join(lines)


@dataclass(frozen=True)
class HistoryUse:
    """A run's history so far: events and bytes, as the server counts them."""

    events: int = 0
    bytes: int = 0

    def minus(self, other: HistoryUse) -> HistoryUse:
        return HistoryUse(self.events - other.events, self.bytes - other.bytes)

    def largest(self, other: HistoryUse) -> HistoryUse:
        return HistoryUse(max(self.events, other.events), max(self.bytes, other.bytes))


def time_to_continue(
    ran: int, per_run: int, used: HistoryUse, iteration: HistoryUse, suggested: bool
) -> bool:
    """Whether this run hands over now: ``per_run`` iterations done, the server suggests
    it, or another of its largest iterations (``iteration``), twice over, and the reserve
    would not fit under the bound."""
    if ran >= per_run or suggested:
        return True
    events = used.events + 2 * iteration.events + RESERVE_EVENTS
    size = used.bytes + 2 * iteration.bytes + RESERVE_BYTES
    return events > HISTORY_MAX_EVENTS or size > HISTORY_MAX_BYTES


def view(
    state: ResearchState,
    job_id: str,
    status: ResearchStatusName,
    phase: str,
    stop: StopReason,
) -> ResearchView:
    """The research query's answer."""
    return ResearchView(
        job_id=job_id,
        goal=state.goal,
        status=status,
        phase=phase,
        iteration=state.iteration,
        run=state.run,
        questions=state.questions,
        findings=state.findings,
        recent=state.recent,
        spend=state.spend,
        budget=state.budget,
        progress=state.progress[-1] if state.progress else None,
        pending=state.pending,
        steers=state.steers,
        stop_reason=stop,
        next_iteration_at=state.next_at if status == "waiting" else None,
    )


def result(
    state: ResearchState,
    job_id: str,
    reason: StopReason,
    report: tuple[str, list[Citation], int | None],
) -> ResearchResult:
    """The job's result: ``report`` is its text, citations and stored row."""
    text, citations, report_id = report
    return ResearchResult(
        job_id=job_id,
        goal=state.goal,
        stop_reason=reason,
        report=text,
        citations=citations,
        report_id=report_id,
        iterations=state.iteration,
        runs=state.run,
        findings=state.findings,
        questions=state.questions,
        spend=state.spend,
        progress=state.progress[-1] if state.progress else None,
    )
