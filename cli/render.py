"""How a task's result and progress, and a research job's view, events and report, look in
a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from naestro.contracts import TaskEvent, TaskResult, TaskStatusView
from naestro.contracts.research import ResearchResult, ResearchView, SteerCommand, StoredReport

_STATUS_STYLE = {
    "succeeded": "bold green",
    "unverified": "bold yellow",
    "budget_exhausted": "bold yellow",
    "cancelled": "bold magenta",
    "failed": "bold red",
    "rejected": "bold red",
    "running": "bold cyan",
}


@contextmanager
def progress(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """Where a long step is: a spinner on a terminal; elsewhere (a log, a pipe, CI) one
    line per change, so the step shows progress throughout."""
    if console.is_terminal:
        with console.status(first) as status:
            yield status.update
        return
    shown: list[str] = []

    def update(text: str) -> None:
        if not shown or shown[-1] != text:
            shown.append(text)
            console.print(text, highlight=False)

    update(first)
    yield update


def progress_line(view: TaskStatusView) -> str:
    score = f", score {view.last_score:.2f}" if view.last_score is not None else ""
    done = sum(1 for o in view.subtasks if o.status == "succeeded")
    parts = f", subtasks {done}/{len(view.subtasks)} succeeded" if view.subtasks else ""
    return (
        f"phase {view.phase}, round {view.round}: {view.spend.model_calls} model call(s), "
        f"{view.spend.tokens} tokens, ${view.spend.usd:.4f}{score}{parts}"
    )


def subtasks_table(result: TaskResult) -> Table:
    """A plan that fanned out: each subtask's outcome over its runs."""
    table = Table(title="Subtasks", show_lines=False)
    for col in ("id", "title", "after", "status", "runs", "tokens", "USD", "reason"):
        table.add_column(col, justify="right" if col in ("runs", "tokens", "USD") else "left")
    for o in result.subtasks:
        table.add_row(
            o.id,
            o.title,
            ", ".join(o.depends_on),
            o.status + (" (re-planned)" if o.replanned else ""),
            str(o.attempts),
            str(o.tokens),
            f"{o.usd:.5f}",
            o.reason[:80],
        )
    return table


def trace_table(result: TaskResult) -> Table:
    table = Table(title="Model calls", show_lines=False)
    for col in ("phase", "role", "provider", "model", "in", "out", "USD", "ms"):
        table.add_column(col, justify="right" if col in ("in", "out", "USD", "ms") else "left")
    for c in result.trace:
        table.add_row(
            c.phase,
            c.role,
            c.provider + (" (scripted)" if c.scripted else ""),
            c.model,
            str(c.input_tokens),
            str(c.output_tokens),
            f"{c.cost_usd:.5f}",
            f"{c.latency_ms:.0f}",
        )
    return table


def roles_table(result: TaskResult) -> Table:
    """Per role: the providers that served it, its tokens, cost and summed latency."""
    table = Table(title="Roles", show_lines=False)
    for col in ("role", "provider(s)", "calls", "in", "out", "USD", "ms"):
        table.add_column(col, justify="left" if col in ("role", "provider(s)") else "right")
    for r in result.roles:
        table.add_row(
            r.role,
            ", ".join(r.providers),
            str(r.calls),
            str(r.input_tokens),
            str(r.output_tokens),
            f"{r.cost_usd:.5f}",
            f"{r.latency_ms:.0f}",
        )
    return table


def confidence_lines(result: TaskResult) -> list[Text]:
    lines = []
    if result.confidence is not None:
        lines.append(Text(f"confidence: {result.confidence:.2f}", "bold"))
    c = result.consensus
    if c is not None:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in c.components.items())
        note = f"; {c.early_exit}" if c.early_exit else ""
        human = f"; human review: {c.human_decision}" if c.needs_human_review else ""
        lines.append(
            Text(
                f"consensus: {c.proposals} proposals, {c.critiques} critiques, "
                f"{c.rounds} round(s), confidence {c.confidence:.2f} ({parts}){note}{human}"
            )
        )
    return lines


def result_panel(result: TaskResult, ui_link: str) -> Group:
    style = _STATUS_STYLE.get(result.status, "bold")
    head = Text.assemble(
        ("status ", "dim"), (result.status, style), (f"  ({result.reason})", "dim")
    )
    lines = [head]
    if result.scripted:
        lines.append(Text("Every model reply in this run is SCRIPTED (replay provider).", "yellow"))
    if result.verification is not None:
        v = result.verification
        lines.append(
            Text(f"verification [{v.backend}]: {v.summary}", "green" if v.passed else "red")
        )
    if result.verdict is not None:
        lines.append(Text(f"judge: {result.verdict.verdict}, score {result.verdict.score:.2f}"))
    lines.extend(confidence_lines(result))
    s = result.spend
    lines.append(
        Text(
            f"cost: ${s.usd:.4f}, {s.input_tokens} in / {s.output_tokens} out tokens, "
            f"{s.model_calls} model calls, {result.rounds} refine round(s)"
        )
    )
    lines.append(Text(f"Temporal UI: {ui_link}", "blue underline"))
    return Group(
        Panel(Markdown(result.answer or "_(no answer)_"), title="Answer"),
        *([subtasks_table(result)] if result.subtasks else []),
        trace_table(result),
        *([roles_table(result)] if result.roles else []),
        *lines,
    )


def show_result(console: Console, result: TaskResult, ui_link: str) -> None:
    console.print(result_panel(result, ui_link))


# Research jobs (cli/research.py). Their text (goals, questions, findings) is printed as
# it is, never read as rich markup.
RECENT = 8  # findings' headlines shown by `status` and `report`


def research_event(console: Console, event: TaskEvent) -> None:
    data = event.data
    if event.type == "model_call":
        text = f"{data.get('role', '?')} via {data.get('provider', '?')}"
    elif event.type == "phase":
        text = str(data.get("phase", ""))
    else:
        text = ", ".join(f"{k} {v}" for k, v in data.items() if not isinstance(v, (dict, list)))
    say(
        console,
        f"[{event.seq}] {event.type}: {text}",
        "dim" if event.type == "model_call" else None,
    )


def research_spend_line(view: ResearchView) -> str:
    s, b = view.spend, view.budget
    return (
        f"spend: ${s.usd:.4f} of ${b.max_usd:.2f}, {s.tokens} of {b.max_tokens} tokens, "
        f"{view.iteration} of {b.max_iterations} iterations, {s.model_calls} model call(s)"
    )


def show_research_view(console: Console, view: ResearchView) -> None:
    progress = f", progress {view.progress:.2f}" if view.progress is not None else ""
    stop = f", stopped: {view.stop_reason}" if view.stop_reason else ""
    say(
        console,
        f"research job {view.job_id}: {view.status} (phase {view.phase}), iteration "
        f"{view.iteration}, run {view.run}{progress}{stop}",
        "bold",
    )
    say(console, f"goal: {view.goal}")
    say(console, research_spend_line(view))
    if view.next_iteration_at is not None and view.status in ("waiting", "paused"):
        say(console, f"next iteration at {view.next_iteration_at.isoformat(timespec='seconds')}")
    say(console, "questions:" if view.questions else "questions: none yet")
    for q in view.questions:
        say(console, f"  {q.id} [{q.status}] {q.text}")
    show_research_heads(console, view)
    if view.pending:
        say(console, "pending steering (applied at the next iteration):")
    for c in view.pending:
        what = c.question or c.question_id or c.goal or budget_text(c)
        why = f" ({c.reason})" if c.reason else ""
        say(console, f"  {c.action}{': ' + what if what else ''}{why}")


def budget_text(c: SteerCommand) -> str:
    parts = [("$", c.max_usd), ("tokens ", c.max_tokens), ("iterations ", c.max_iterations)]
    return ", ".join(f"{name}{value}" for name, value in parts if value is not None)


def show_research_heads(console: Console, view: ResearchView) -> None:
    recent = view.recent[-RECENT:]
    if not recent:
        say(console, f"findings: {view.findings}")
        return
    say(console, f"recent findings ({len(recent)} of {view.findings}):")
    for h in reversed(recent):
        sources = f" [{', '.join(h.sources)}]" if h.sources else ""
        say(console, f"  it.{h.iteration} {h.question_id}: {h.headline}{sources}")


def show_research_digest(console: Console, report: StoredReport) -> None:
    when = report.created_at.isoformat(timespec="seconds")
    say(
        console,
        f"research job {report.job_id} is still running; its latest {report.kind} "
        f"(iteration {report.iteration}, {when}):",
        "bold",
    )
    console.print(Markdown(report.text))
    show_citations(console, report.citations)


def show_citations(console: Console, citations: list[Any]) -> None:
    if citations:
        say(console, "sources:")
    for i, c in enumerate(citations, 1):
        say(console, f"  [{i}] {c.source}{' ' + c.ref if c.ref else ''}")


def show_research_result(console: Console, result: ResearchResult) -> None:
    s = result.spend
    say(
        console,
        f"research job {result.job_id}: done ({result.stop_reason or 'stopped'}), "
        f"{result.iterations} iteration(s) in {result.runs} run(s), {result.findings} "
        f"finding(s), ${s.usd:.4f}, {s.tokens} tokens",
        "bold",
    )
    say(console, f"goal: {result.goal}")
    console.print(Markdown(result.report or "_(no report)_"))
    show_citations(console, result.citations)


def say(console: Console, text: str, style: str | None = None) -> None:
    """A line of job text (goals, questions, findings): never read as rich markup."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
