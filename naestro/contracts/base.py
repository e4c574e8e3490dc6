"""The base of every payload contract: frozen models and the shared literal types."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

TaskKind = Literal["code", "math", "general"]


Phase = Literal["pii", "plan", "implement", "verify", "refine", "review", "done"]


Role = str  # "planner", "implementer", "critic", "judge", ... : free-form, routed by policy


TaskStatusName = Literal[
    "running", "succeeded", "unverified", "budget_exhausted", "cancelled", "failed", "rejected"
]


Location = Literal["local", "cloud"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
