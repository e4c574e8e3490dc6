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


class FrozenInput(Frozen):
    """A contract a caller's JSON fills (a task, a research job, a steering command): NaN
    and +-Infinity are refused. JSON has no such numbers, a budget of NaN passes every
    comparison, and pydantic writes them as null, which the workflow then cannot read."""

    model_config = ConfigDict(allow_inf_nan=False)


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
