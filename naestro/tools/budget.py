"""The bounds of a task's tool calls: so many per task, so many per phase (each implement or
refine step). Pure arithmetic, kept by the workflow."""

from __future__ import annotations

from dataclasses import dataclass

TASK_SPENT = "the task's tool-call budget is spent"
PHASE_SPENT = "this step's tool-call budget is spent"


@dataclass
class ToolBudget:
    per_task: int
    per_phase: int
    used: int = 0
    used_in_phase: int = 0

    def new_phase(self) -> None:
        self.used_in_phase = 0

    def why_not(self) -> str | None:
        """Why no further call may run now (None: one may)."""
        if self.used >= self.per_task:
            return TASK_SPENT
        if self.used_in_phase >= self.per_phase:
            return PHASE_SPENT
        return None

    def take(self) -> str | None:
        """Count one call; the reason it may not run instead (nothing is counted then)."""
        why = self.why_not()
        if why is None:
            self.used += 1
            self.used_in_phase += 1
        return why
