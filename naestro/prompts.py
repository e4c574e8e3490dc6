"""Prompt templates for each phase and role. Pure: imported by workflows."""

from __future__ import annotations

from naestro.contracts import ChatMessage, TaskKind, VerificationReport
from naestro.examples import failed_examples
from naestro.fencing import UNTRUSTED_NOTICE, fence
from naestro.quality import no_tests

_KIND_GUIDE: dict[str, str] = {
    "code": (
        "You write correct, tested Python. Answer with fenced code blocks only. Start each "
        "block with a line '# file: NAME'. Put the implementation in solution.py and pytest "
        "tests in test_solution.py (import from solution)."
    ),
    "math": (
        "You solve mathematics problems rigorously. Show the derivation, then give the "
        "final answer on a last line starting with 'Answer:'."
    ),
    "general": "You answer precisely and concisely, stating assumptions.",
}
# Code without tests of the model's own (write_tests: false): the task's examples run.
_CODE_ONLY = (
    "You write correct Python. Answer with fenced code blocks only. Start each block with "
    "a line '# file: NAME'. Put the implementation in solution.py; write no tests (the "
    "task's examples are run against it)."
)


def _guide(kind: TaskKind, write_tests: bool) -> str:
    return _CODE_ONLY if kind == "code" and not write_tests else _KIND_GUIDE[kind]


JUDGE_FORMAT = (
    'Reply with one JSON object only: {"verdict": "accept"|"revise"|"reject", '
    '"score": <0..1>, "rationale": "<one paragraph>"}.'
)


def _msgs(system: str, user: str) -> list[ChatMessage]:
    # Model output and tool output reach later prompts fenced as data (naestro.fencing).
    system = f"{system}\n\n{UNTRUSTED_NOTICE}"
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]


def plan(kind: TaskKind, prompt: str) -> list[ChatMessage]:
    return _msgs(
        "You are the planner of a multi-model team. Break the task into a short numbered "
        "plan (at most 7 steps, one line each) that an implementer can follow. No code and "
        "no solution yet: the plan's length is paid for on every later call.",
        f"Task ({kind}):\n{prompt}",
    )


def implement(
    kind: TaskKind, prompt: str, plan_text: str, *, write_tests: bool = True
) -> list[ChatMessage]:
    """The implementer's prompt; without a plan (plan: false) the task alone."""
    if not plan_text:
        return _msgs(_guide(kind, write_tests), f"Task:\n{prompt}")
    plan_block = fence(plan_text, "planner output")
    return _msgs(_guide(kind, write_tests), f"Task:\n{prompt}\n\nPlan:\n{plan_block}")


NO_FILES = (
    "Your answer held no code files, so nothing could be tested. Reply with the code and "
    "its pytest tests, each file in its own fenced block whose first line is "
    "`# file: NAME` (for example `# file: solution.py` and `# file: test_solution.py`)."
)


def _feedback(report: VerificationReport | None, rationale: str) -> str:
    parts = []
    if report is not None and report.backend == "none":  # nothing to verify was found
        parts.append(NO_FILES)
    elif report is not None and not report.passed and not no_tests(report):
        failed = ", ".join(t.name for t in report.failed_tests) or "(see output)"
        examples = failed_examples(report)
        if examples:  # the task's own examples, said plainly: small models act on this
            listed = "\n".join(f"- {line}" for line in examples)
            parts.append(f"These examples from the task fail:\n{fence(listed, 'test results')}")
        tail = report.output[-(1500 if examples else 4000) :]
        parts.append(
            f"Verification failed: {report.summary}\nFailing: {failed}\n"
            f"Output (truncated):\n{fence(tail, 'sandbox output')}"
        )
    if rationale:
        parts.append(f"Reviewer feedback:\n{fence(rationale, 'reviewer output')}")
    return "\n\n".join(parts) or "Improve the answer."


def refine(
    kind: TaskKind,
    prompt: str,
    previous: str,
    report: VerificationReport | None,
    rationale: str,
    *,
    write_tests: bool = True,
) -> list[ChatMessage]:
    return _msgs(
        _guide(kind, write_tests) + " You are revising an earlier attempt: fix every problem "
        "found.",
        f"Task:\n{prompt}\n\nPrevious attempt:\n{fence(previous, 'previous attempt')}\n\n"
        f"{_feedback(report, rationale)}",
    )


def review(
    kind: TaskKind, prompt: str, answer: str, report: VerificationReport | None
) -> list[ChatMessage]:
    checked = f"Verification: {report.summary}" if report is not None else "Verification: none"
    return _msgs(
        f"You are the judge. Assess whether the answer fully and correctly solves the "
        f"{kind} task. {JUDGE_FORMAT}",
        f"Task:\n{prompt}\n\nAnswer:\n{fence(answer, 'answer under review')}\n\n{checked}",
    )


PLAN_FORMAT = (
    'Reply with one JSON object only: {"summary": "<the approach, a few lines>", '
    '"subtasks": [{"id": "s1", "title": "...", "prompt": "<the subtask, '
    'complete on its own>", "acceptance": ["<a checkable criterion>"], '
    '"depends_on": ["<ids it needs the results of>"]}]}.'
)


def structured_plan(kind: TaskKind, prompt: str, max_subtasks: int) -> list[ChatMessage]:
    """The planner's prompt when the plan may fan out into subtasks (child tasks)."""
    return _msgs(
        "You are the planner of a multi-model team. Decide whether the task splits into "
        f"parts that can be done and checked separately (at most {max_subtasks}). If it "
        "does, list them as subtasks, each with acceptance criteria and the ids of the "
        "subtasks whose results it needs (independent ones run in parallel). If it is small "
        "or does not split, give an empty subtask list and a short numbered plan as the "
        f"summary. No code and no solution yet. {PLAN_FORMAT}",
        f"Task ({kind}):\n{prompt}",
    )


def replan_subtask(
    prompt: str, subtask_json: str, status: str, reason: str, answer: str
) -> list[ChatMessage]:
    """Ask the planner for a better version of a subtask that did not succeed."""
    return _msgs(
        "You are the planner of a multi-model team. A subtask of your plan did not succeed. "
        "Rewrite it so it can: clearer, smaller or with what it lacked. Keep its id and "
        "depends_on. Reply with one JSON object only, the subtask with the fields id, "
        "title, prompt, acceptance, depends_on.",
        f"Task:\n{prompt}\n\nSubtask:\n{subtask_json}\n\nOutcome: {status}: {reason}\n\n"
        f"Its last answer:\n{fence(answer[:4000], 'subtask answer')}",
    )


def integrate(
    kind: TaskKind, prompt: str, plan_text: str, parts: list[str], *, write_tests: bool = True
) -> list[ChatMessage]:
    """The implementer's prompt to combine the subtasks' results into the task's answer."""
    joined = "\n\n".join(parts) or "(no subtask produced a result)"
    return _msgs(
        _guide(kind, write_tests) + " The task was split into subtasks run by other team members; "
        "integrate their results into one complete answer to the whole task, fixing any "
        "inconsistency between them and filling what a failed subtask left open.",
        f"Task:\n{prompt}\n\nPlan:\n{fence(plan_text, 'planner output')}\n\n"
        f"Subtask results:\n{joined}",
    )
