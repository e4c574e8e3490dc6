"""A research job: a goal worked on in iterations for hours or days (ResearchWorkflow),
steered while it runs, its findings kept in Postgres and carried across continue-as-new
by reference."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from naestro.contracts.base import Frozen, FrozenInput, TaskKind
from naestro.contracts.text import PromptText, given_prompt_problem, prompt_problem

QuestionStatus = Literal["open", "answered", "dropped"]
ResearchStatusName = Literal[
    "running",  # working on an iteration
    "waiting",  # between iterations (its cadence timer)
    "paused",  # a person paused it: no iteration starts until resume
    "reporting",  # writing its final report
    "done",  # stopped, with its final report
]
StopReason = Literal[
    "converged", "stopped", "budget", "iterations", "time", "no_questions", "failed", ""
]
SteerAction = Literal[
    "add_question", "drop_question", "redirect", "budget", "pause", "resume", "stop"
]
MAX_QUESTION_CHARS = 500
MAX_GOAL_CHARS = 4000


class ResearchBudget(FrozenInput):
    max_usd: float = Field(default=5.0, ge=0.0)
    max_tokens: int = Field(default=2_000_000, ge=1, description="input + output tokens")
    max_iterations: int = Field(default=20, ge=1, le=100_000)
    max_hours: float = Field(default=72.0, gt=0, le=24 * 365)


class ResearchRequest(FrozenInput):
    goal: PromptText = Field(min_length=1, max_length=MAX_GOAL_CHARS)
    questions: list[str] = Field(default_factory=list, max_length=20)
    kind: TaskKind = "general"
    policy: str = Field(default="default", min_length=1, max_length=100)
    tenant: str = Field(default="default", min_length=1, max_length=100)
    priority: int = Field(default=3, ge=1, le=5)
    budget: ResearchBudget = ResearchBudget()
    # Iterations follow each other after this pause (a durable timer); 0: at once
    cadence_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    # A digest of the findings so far is written this often (0: never), on the same clock
    digest_seconds: int = Field(default=0, ge=0, le=30 * 24 * 3600)
    questions_per_iteration: int = Field(default=3, ge=1, le=8)
    # The judge's progress score (0..1) at which the goal counts as answered
    convergence: float = Field(default=0.85, gt=0, le=1)
    # Continue-as-new after this many iterations (sooner when history grows large)
    iterations_per_run: int = Field(default=10, ge=1, le=1000)
    # Gather each question as a child TaskWorkflow (planned, verified, judged) instead of
    # one model call with the retrieved context
    gather_with_tasks: bool = False

    @model_validator(mode="after")
    def _questions_fit(self) -> ResearchRequest:
        for q in self.questions:
            if len(q) > MAX_QUESTION_CHARS:
                raise ValueError(f"questions: each 1..{MAX_QUESTION_CHARS} characters")
            if problem := prompt_problem(q):
                raise ValueError(f"questions: each {problem}")
        return self


class Question(Frozen):
    id: str  # q1, q2, ... in the order they were asked
    text: str
    status: QuestionStatus = "open"
    source: Literal["user", "planner"] = "user"
    asked_at: int = 0  # the iteration it was added in


class Citation(Frozen):
    source: str  # a memory document's source (or "model" for the model's own knowledge)
    ref: str = ""  # the chunk or document id it came from
    quote: str = Field(default="", max_length=600)


class Finding(Frozen):
    question_id: str
    question: str
    text: str
    citations: list[Citation] = []
    iteration: int = 0


class FindingHead(Frozen):
    """A finding as the workflow keeps it: its first words and sources, never its text."""

    id: int  # its row in research_findings
    question_id: str
    iteration: int
    headline: str = Field(max_length=200)
    sources: list[str] = []


class ResearchSpend(Frozen):
    tokens: int = 0
    usd: float = 0.0
    model_calls: int = 0


class SteerCommand(FrozenInput):
    action: SteerAction
    question: str = Field(default="", max_length=MAX_QUESTION_CHARS)  # add_question
    question_id: str = Field(default="", max_length=20)  # drop_question
    goal: str = Field(default="", max_length=MAX_GOAL_CHARS)  # redirect
    max_usd: float | None = None  # budget
    max_tokens: int | None = None  # budget
    max_iterations: int | None = None  # budget
    reason: str = Field(default="", max_length=500)
    by: str = Field(default="", max_length=200)


class SteerRequest(SteerCommand):
    """A steering command as a caller sends it (the API's body, the CLI's flags): its
    question and goal under the prompt rule, refused with the field named. The workflow's
    own type stays lenient: the commands it accepted are durable state that must still
    load, and its update validator applies the same rule to new ones (an SDK client's)."""

    @field_validator("question", "goal")
    @classmethod
    def _prompt_rule(cls, text: str) -> str:
        if problem := given_prompt_problem(text):
            raise PydanticCustomError("prompt_text", problem)
        return text


class SteerOutcome(Frozen):
    action: SteerAction
    message: str
    applies_at: int  # the iteration it takes effect in


class SteerRecord(Frozen):
    command: SteerCommand
    at: datetime
    applied_at: int | None = None  # the iteration that applied it (None: pending)


class ResearchState(Frozen):
    """What one run hands the next at continue-as-new: counters, questions, spend, and
    references to the findings (their rows in Postgres), never their text."""

    goal: str
    questions: list[Question] = []
    iteration: int = 0  # iterations finished
    run: int = 1  # this run's number (continue-as-new adds one)
    spend: ResearchSpend = ResearchSpend()
    budget: ResearchBudget = ResearchBudget()
    paused: bool = False
    stop_requested: str = ""  # a person's reason to stop now
    progress: list[float] = []  # the judge's last scores, newest last (at most 5)
    findings: int = 0  # rows stored so far
    recent: list[FindingHead] = []  # the newest findings' heads (at most 20)
    started_at: datetime | None = None
    last_digest_at: datetime | None = None
    steers: list[SteerRecord] = []  # the last few (at most 20)
    pending: list[SteerCommand] = []  # accepted, applied at the next iteration
    event_seq: int = 0  # the progress log's last sequence number (resumable SSE across runs)
    questions_asked: int = 0  # ids q1..qN handed out so far (never reused)
    next_at: datetime | None = None  # when the next iteration is due (its cadence timer)
    digested: int = 0  # the iteration the last digest covered (one digest per iteration)
    # The job's PII placeholders (<EMAIL_1> -> original), so a placeholder in a stored
    # finding means the same value in every run; stays in the (encrypted) history
    pii_mapping: dict[str, str] = {}


class PlannedQuestions(Frozen):
    """The planner's structured reply: new questions that bring the goal closer."""

    questions: list[str] = Field(default_factory=list, max_length=20)


class ResearchInput(Frozen):
    request: ResearchRequest
    state: ResearchState | None = None  # None: a new job


class ResearchView(Frozen):
    """The research query's answer: where it stands, its questions, findings and spend."""

    job_id: str
    goal: str
    status: ResearchStatusName
    phase: str
    iteration: int
    run: int
    questions: list[Question]
    findings: int
    recent: list[FindingHead]
    spend: ResearchSpend
    budget: ResearchBudget
    progress: float | None = None
    pending: list[SteerCommand] = []
    steers: list[SteerRecord] = []
    stop_reason: StopReason = ""
    next_iteration_at: datetime | None = None


class ResearchResult(Frozen):
    job_id: str
    goal: str
    stop_reason: StopReason
    report: str
    citations: list[Citation] = []
    report_id: int | None = None  # its row in research_reports
    iterations: int = 0
    runs: int = 1
    findings: int = 0
    questions: list[Question] = []
    spend: ResearchSpend = ResearchSpend()
    progress: float | None = None


# Store (activities/research): what the workflow saves and reads back by reference


class SaveFindings(Frozen):
    job_id: str
    tenant: str
    iteration: int
    findings: list[Finding]


class SavedReport(Frozen):
    job_id: str
    tenant: str
    iteration: int
    kind: Literal["digest", "final"]
    text: str
    citations: list[Citation] = []


class FindingsQuery(Frozen):
    job_id: str
    limit: int = Field(default=200, ge=1, le=5000)
    max_chars: int = Field(default=24_000, ge=100, description="the texts' total, newest kept")


class StoredReport(Frozen):
    id: int
    job_id: str
    iteration: int
    kind: Literal["digest", "final"]
    text: str
    citations: list[Citation] = []
    created_at: datetime
