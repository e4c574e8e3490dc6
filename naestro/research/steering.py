"""Steering a running research job: the update's validator (a refused command never
reaches the history), accepting a command (queued, with its reserved question id), and
applying the queued commands at the start of the next iteration.

Every command is checked against the state as the next iteration will see it, i.e. with
the commands already queued applied: dropping a question added a moment ago is fine,
pausing twice is not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from pydantic import ValidationError

from naestro.contracts.research import (
    Question,
    ResearchBudget,
    ResearchState,
    ResearchStatusName,
    SteerAction,
    SteerCommand,
    SteerOutcome,
    SteerRecord,
)
from naestro.contracts.text import given_prompt_problem
from naestro.research.state import asking, open_questions, question_id

MAX_PENDING = 20  # queued commands: more wait for the next iteration (bounds the history)
MAX_STEERS = 20  # records kept for the query
MAX_OPEN = 50  # open questions a person may queue up
_BUDGET_FIELDS = ("max_usd", "max_tokens", "max_iterations")
# Commands that change what the next iteration works on: it starts at once, not at the end
# of the cadence wait (the others take effect whenever it starts).
STARTS_NOW: frozenset[SteerAction] = frozenset({"add_question", "redirect"})


def preview(state: ResearchState) -> ResearchState:
    """The state the next iteration starts from: the queued commands applied."""
    for command in state.pending:
        state = apply(state, command, state.iteration + 1)
    return state.model_copy(update={"pending": []})


def check(
    state: ResearchState,
    command: SteerCommand,
    status: ResearchStatusName,
    gathering: Collection[str] = (),
) -> None:
    """The update's validator. ``state`` carries the spend so far; ``gathering``: the ids
    of the questions the current iteration is answering. ValueError says what is wrong."""
    if status in ("reporting", "done"):
        raise ValueError(f"the job is {status}: it takes no more steering")
    if len(state.pending) >= MAX_PENDING:
        raise ValueError(
            f"{MAX_PENDING} commands already wait for the next iteration; send this one then"
        )
    if problem := text_problem(command):
        raise ValueError(problem)
    _CHECKS[command.action](preview(state), command, gathering)


def text_problem(command: SteerCommand) -> str | None:
    """Why the command's question or goal cannot become a prompt (the prompt rule,
    naestro/contracts/text.py: NUL, lone surrogates, control characters), naming the field;
    None when it can. An empty one is each action's own check."""
    for name in ("question", "goal"):
        if problem := given_prompt_problem(getattr(command, name)):
            return f"{name} {problem}"
    return None


def _check_add(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if not c.question.strip():
        raise ValueError("add_question needs a question (it was empty)")
    same = asking(state, c.question)
    if same is not None:
        raise ValueError(f"{same.id} already asks this ({same.status}): {same.text!r}")
    if len(open_questions(state)) >= MAX_OPEN:
        raise ValueError(f"{MAX_OPEN} questions are open already: drop one first")


def _check_drop(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if not c.question_id:
        raise ValueError("drop_question needs question_id (q1, q2, ...)")
    question = next((q for q in state.questions if q.id == c.question_id), None)
    if question is None:
        known = ", ".join(q.id for q in open_questions(state)) or "none"
        raise ValueError(f"no question {c.question_id} in this job (open: {known})")
    if question.status != "open":
        raise ValueError(f"{c.question_id} is {question.status}, not open: nothing to drop")
    if c.question_id in gathering:
        raise ValueError(f"{c.question_id} is being answered in this iteration already")


def _check_redirect(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if not c.goal.strip():
        raise ValueError("redirect needs a new goal (it was empty)")
    if c.goal.strip() == state.goal:
        raise ValueError("redirect: that is the goal already")


def _check_budget(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    given = {f: getattr(c, f) for f in _BUDGET_FIELDS if getattr(c, f) is not None}
    if not given:
        raise ValueError("budget needs max_usd, max_tokens or max_iterations")
    for name, value in given.items():
        if value < 0:
            raise ValueError(f"budget: {name} must not be negative (got {value:g})")
    spent = state.spend
    if c.max_usd is not None and c.max_usd < spent.usd:
        raise ValueError(f"budget: max_usd {c.max_usd:g} is below the ${spent.usd:.4f} spent")
    if c.max_tokens is not None and c.max_tokens < spent.tokens:
        raise ValueError(f"budget: max_tokens {c.max_tokens} is below the {spent.tokens} spent")
    if c.max_iterations is not None and c.max_iterations < state.iteration:
        raise ValueError(
            f"budget: max_iterations {c.max_iterations} is below the {state.iteration} done"
        )
    try:
        ResearchBudget.model_validate({**state.budget.model_dump(), **given})
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"budget: {first['loc'][0]}: {first['msg']}") from None


def _check_pause(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if state.paused:
        raise ValueError("the job is paused already (or a pause is queued): resume it instead")


def _check_resume(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if not state.paused:
        raise ValueError("the job is not paused (and no pause is queued): nothing to resume")


def _check_stop(state: ResearchState, c: SteerCommand, gathering: Collection[str]) -> None:
    if state.stop_requested:
        raise ValueError(f"a stop is queued already ({state.stop_requested})")


_CHECKS: dict[SteerAction, Callable[[ResearchState, SteerCommand, Collection[str]], None]] = {
    "add_question": _check_add,
    "drop_question": _check_drop,
    "redirect": _check_redirect,
    "budget": _check_budget,
    "pause": _check_pause,
    "resume": _check_resume,
    "stop": _check_stop,
}


def accept(
    state: ResearchState, command: SteerCommand, now: datetime, applies_at: int
) -> tuple[ResearchState, SteerOutcome]:
    """Queue a checked command (an added question gets its id now) and record it."""
    if command.action == "add_question":
        n = state.questions_asked + 1
        text = " ".join(command.question.split())
        command = command.model_copy(update={"question": text, "question_id": question_id(n)})
        state = state.model_copy(update={"questions_asked": n})
    record = SteerRecord(command=command, at=now)
    state = state.model_copy(
        update={
            "pending": [*state.pending, command],
            "steers": [*state.steers, record][-MAX_STEERS:],
        }
    )
    message = _message(command, applies_at)
    return state, SteerOutcome(action=command.action, message=message, applies_at=applies_at)


def apply_pending(state: ResearchState, iteration: int) -> ResearchState:
    """The queued commands, in the order they came, applied at ``iteration``'s start."""
    applied = list(state.pending)
    for command in applied:
        state = apply(state, command, iteration)
    steers = [
        r.model_copy(update={"applied_at": iteration})
        if r.applied_at is None and r.command in applied
        else r
        for r in state.steers
    ]
    return state.model_copy(update={"pending": [], "steers": steers})


def apply(state: ResearchState, c: SteerCommand, iteration: int) -> ResearchState:
    if c.action == "add_question":
        if asking(state, c.question) is not None:  # the planner asked it meanwhile
            return state
        asked = Question(id=c.question_id, text=c.question, source="user", asked_at=iteration)
        return state.model_copy(update={"questions": [*state.questions, asked]})
    if c.action == "drop_question":
        questions = [
            q.model_copy(update={"status": "dropped"})
            if q.id == c.question_id and q.status == "open"
            else q
            for q in state.questions
        ]
        return state.model_copy(update={"questions": questions})
    if c.action == "redirect":  # the judge's scores measured the old goal
        return state.model_copy(update={"goal": c.goal.strip(), "progress": []})
    if c.action == "budget":
        given = {f: getattr(c, f) for f in _BUDGET_FIELDS if getattr(c, f) is not None}
        budget = ResearchBudget.model_validate({**state.budget.model_dump(), **given})
        return state.model_copy(update={"budget": budget})
    if c.action in ("pause", "resume"):
        return state.model_copy(update={"paused": c.action == "pause"})
    return state.model_copy(update={"stop_requested": _stop_reason(c)})


def _stop_reason(c: SteerCommand) -> str:
    who = f"stopped by {c.by}" if c.by else "stopped"
    return f"{who}: {c.reason}" if c.reason else who


def _message(c: SteerCommand, n: int) -> str:
    if c.action == "add_question":
        return f"{c.question_id} is asked from iteration {n}"
    if c.action == "drop_question":
        return f"{c.question_id} is dropped at iteration {n}"
    if c.action == "redirect":
        return f"the goal changes at iteration {n}"
    if c.action == "budget":
        given = ", ".join(
            f"{f}={getattr(c, f):g}" for f in _BUDGET_FIELDS if getattr(c, f) is not None
        )
        return f"the budget becomes {given} at iteration {n}"
    if c.action == "pause":
        return f"the job pauses before iteration {n}"
    if c.action == "resume":
        return f"the job resumes with iteration {n}"
    return f"the job stops before iteration {n} and writes its final report"
