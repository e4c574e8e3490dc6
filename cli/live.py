"""`naestro run`'s live view: the task's progress and the model's tokens as they arrive.

On a terminal: a line with the phase, calls, tokens and spend, and under it the tail of
the reply being written (which call: phase, role, provider). Elsewhere (a pipe, a log, CI):
one line per progress event and each finished call's length, no token spam.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text
from temporalio.client import Client, WorkflowHandle

from naestro.contracts import TaskEvent, TaskResult
from naestro.contracts.stream import TokenDelta
from naestro.watch import Cursor, follow_task

TAIL_LINES = 12


@dataclass
class _View:
    phase: str = "starting"
    calls: int = 0
    tokens: int = 0
    usd: float = 0.0
    call: TokenDelta | None = None  # the call being written
    text: list[str] = field(default_factory=list)

    def header(self) -> str:
        return (
            f"phase {self.phase}: {self.calls} model call(s), {self.tokens} tokens, ${self.usd:.4f}"
        )

    def event(self, event: TaskEvent) -> str | None:
        """Fold a progress event in; a line worth printing off a terminal, if any."""
        data = event.data
        if event.type == "phase":
            self.phase = str(data.get("phase", self.phase))
            return f"phase {self.phase} (round {data.get('round', 0)})"
        if event.type == "model_call":
            self.calls += 1
            self.tokens += int(data.get("input_tokens", 0)) + int(data.get("output_tokens", 0))
            self.usd += float(data.get("cost_usd", 0.0))
            return (
                f"  {data.get('phase')}/{data.get('role')} via {data.get('provider')}: "
                f"{data.get('output_tokens', 0)} tokens out, {data.get('latency_ms', 0):.0f} ms"
            )
        if event.type in ("verification", "approval", "waiting", "subtask", "tool_call"):
            details = ", ".join(f"{k}={v}" for k, v in data.items() if k != "tests")
            return f"  {event.type}: {details}"
        return None

    def token(self, token: TokenDelta) -> None:
        if self.call is None or token.call != self.call.call:
            self.call, self.text = token, []
        self.text.append(token.text)

    def render(self) -> Group:
        parts: list[Panel | Text] = [Text(self.header())]
        if self.call is not None:
            tail = "".join(self.text).splitlines()[-TAIL_LINES:]
            title = f"{self.call.phase}: {self.call.role} via {self.call.provider}"
            parts.append(Panel(Text("\n".join(tail)), title=title, title_align="left"))
        return Group(*parts)


async def follow_live(
    client: Client, handle: WorkflowHandle[object, TaskResult], console: Console
) -> TaskResult:
    """Show the task live until it ends; its result (a failed task raises as
    ``handle.result()`` does)."""
    view = _View()
    if console.is_terminal:
        with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
            async for update in follow_task(client, handle.id, Cursor()):
                if update.event is not None:
                    view.event(update.event)
                elif update.token is not None:
                    view.token(update.token)
                live.update(view.render())
    else:
        async for update in follow_task(client, handle.id, Cursor()):
            if update.event is not None and (line := view.event(update.event)):
                console.print(line, highlight=False)
    return await handle.result()
