"""What a model reads back from a tool: untrusted content in a fence (naestro/fencing.py),
capped in size; refusals and the notice that the tool budget is spent."""

from __future__ import annotations

from naestro.fencing import fence

EXHAUSTED_NOTE = (
    "Your tool-call budget is spent: no more tools can be called. Answer now with what you "
    "have, without calling any tool."
)


def capped(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters (and whether it was), saying so in the text."""
    if len(text) <= limit:
        return text, False
    width = len(f"\n[... cut: {len(text)} more characters]")  # the note's longest form
    keep = max(0, limit - width)
    note = f"\n[... cut: {len(text) - keep} more characters]"
    return text[:keep] + note, True


def fenced(server: str, tool: str, text: str) -> str:
    """A tool's result as the model sees it: data, never instructions."""
    return fence(text, f"tool {server}.{tool}")


def refused(server: str, tool: str, why: str) -> str:
    return f"Refused: the call to {server}.{tool} did not run ({why})."


def failed(server: str, tool: str, why: str) -> str:
    return f"Error: the call to {server}.{tool} failed ({why})."
