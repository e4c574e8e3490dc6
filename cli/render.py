"""How a task's result and progress look in a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from naestro.contracts import TaskResult, TaskStatusView

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
    return (
        f"phase {view.phase}, round {view.round}: {view.spend.model_calls} model call(s), "
        f"{view.spend.tokens} tokens, ${view.spend.usd:.4f}{score}"
    )


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
        trace_table(result),
        *([roles_table(result)] if result.roles else []),
        *lines,
    )


def show_result(console: Console, result: TaskResult, ui_link: str) -> None:
    console.print(result_panel(result, ui_link))
