"""What a task asks of verification beyond the model's own tests: a workspace with the
user's tests and dependencies, an expected maths answer, a JSON schema; and each
deterministic check's result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from naestro.contracts.base import Frozen
from naestro.contracts.blobs import BlobRef

WorkspaceFormat = Literal["auto", "tar", "zip", "git-bundle"]
Checker = Literal["auto", "tests", "math", "json_schema", "judge"]


class WorkspaceSpec(Frozen):
    """A user's code base, by reference: the archive lives in the blob store."""

    archive: BlobRef
    format: WorkspaceFormat = "auto"
    language: Literal["python", "javascript"] = "python"
    # The user's own tests, run from the workspace root (None: the language's runner)
    test_command: list[str] | None = Field(default=None, max_length=64)
    # Requirement specifiers installed from the worker's local wheel cache (no internet)
    dependencies: list[str] = Field(default=[], max_length=64)


class VerifySpec(Frozen):
    """How a task's answer is checked. ``auto``: by kind — code runs tests (the model's and,
    with a workspace, the user's), math checks ``expected_answer`` symbolically when given,
    a ``json_schema`` validates the answer; else the judge alone."""

    checker: Checker = "auto"
    expected_answer: str | None = Field(default=None, max_length=10_000)
    json_schema: dict[str, Any] | None = None
    workspace: WorkspaceSpec | None = None


class CheckResult(Frozen):
    """One deterministic check of an answer."""

    checker: str  # "math", "json_schema", "user_tests", ...
    passed: bool
    summary: str = ""
    details: dict[str, Any] = {}


CheckName = Literal["math", "json_schema"]


class CheckRequest(Frozen):
    """One deterministic check of an answer (the ``naestro.check.answer`` activity)."""

    checker: CheckName
    answer: str
    expected_answer: str | None = None  # math
    json_schema: dict[str, Any] | None = None  # json_schema
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
