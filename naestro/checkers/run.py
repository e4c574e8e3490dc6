"""One CheckRequest through its checker: the function the check activity runs in a child
process (activities/checks/). Imports SymPy and jsonschema."""

from __future__ import annotations

from naestro.checkers import maths, schema
from naestro.contracts.verify import CheckRequest, CheckResult


def run_check(request: CheckRequest) -> CheckResult:
    if request.checker == "math":
        if request.expected_answer is None:
            return _missing(request, "expected answer")
        return maths.check(request.answer, request.expected_answer)
    if request.json_schema is None:
        return _missing(request, "schema")
    return schema.check(request.answer, request.json_schema)


def _missing(request: CheckRequest, what: str) -> CheckResult:
    summary = f"the {request.checker} check was given no {what}"
    return CheckResult(checker=request.checker, passed=False, summary=summary)
