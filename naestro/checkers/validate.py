"""Whether a VerifySpec can be checked at all, said before a task starts (the API answers
422, the CLI refuses): a checker without what it checks, an expected answer the maths
checker could never read, a schema that is no valid Draft 2020-12 schema. Imports
jsonschema: for the API and the CLI, not for workflows."""

from __future__ import annotations

import json

from naestro.checkers import latex
from naestro.checkers.schema import schema_problem
from naestro.contracts.base import TaskKind
from naestro.contracts.verify import VerifySpec

MAX_SCHEMA_CHARS = 64_000  # as JSON: a schema travels in the task's history


def problems(kind: TaskKind, spec: VerifySpec) -> list[tuple[str, str]]:
    """(field, what is wrong with it) for each problem of ``spec``; [] when it is fine."""
    found: list[tuple[str, str]] = []
    if spec.checker == "math" and spec.expected_answer is None:
        found.append(("expected_answer", "the math checker needs an expected answer"))
    if spec.checker == "json_schema" and spec.json_schema is None:
        found.append(("json_schema", "the json_schema checker needs a schema"))
    if spec.checker == "tests" and kind != "code":
        found.append(("checker", f"the tests checker runs a code task's tests; kind is {kind}"))
    if spec.expected_answer is not None and (problem := latex.problem(spec.expected_answer)):
        found.append(("expected_answer", f"cannot be read as mathematics: {problem}"))
    if spec.json_schema is not None:
        size = len(json.dumps(spec.json_schema))
        if size > MAX_SCHEMA_CHARS:
            found.append(("json_schema", f"{size} characters as JSON; at most {MAX_SCHEMA_CHARS}"))
        elif problem := schema_problem(spec.json_schema):
            found.append(("json_schema", problem))
    return found
