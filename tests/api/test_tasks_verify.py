"""POST /v1/tasks with ``verify``: the checks run and come back in the result; checks that
could never run are refused with 422 before anything starts. The scripted model answers
"The answer is 42."."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import Gw
from tests.api.helpers import finished


async def test_a_task_with_an_expected_answer_returns_its_check(gw: Gw, admin_key: str) -> None:
    body = {
        "prompt": f"What is six times seven? {uuid.uuid4()}",
        "kind": "math",
        "verify": {"expected_answer": "x = 42"},
    }
    async with gw.http(admin_key) as http:
        started = await http.post("/v1/tasks", json=body)
        assert started.status_code == 202, started.text
        done = await finished(http, started.json()["task_id"])
    result = done["result"]
    assert result["status"] == "succeeded"
    assert [(c["checker"], c["passed"]) for c in result["checks"]] == [("math", True)]
    assert result["verification"]["backend"] == "checks"


@pytest.mark.parametrize(
    ("verify", "kind", "field", "message"),
    [
        ({"checker": "math"}, "math", "expected_answer", "needs an expected answer"),
        ({"checker": "json_schema"}, "general", "json_schema", "needs a schema"),
        ({"checker": "tests"}, "math", "checker", "runs a code task's tests"),
        ({"json_schema": {"type": "nope"}}, "general", "json_schema", "not a valid JSON schema"),
        ({"expected_answer": "\\unknown{3}"}, "math", "expected_answer", "\\unknown"),
        ({"expected_answer": "1", "extra": 1}, "math", "extra", "Extra inputs"),
    ],
)
async def test_checks_that_could_never_run_are_refused(
    gw: Gw, admin_key: str, verify: dict[str, Any], kind: str, field: str, message: str
) -> None:
    body = {"prompt": "What is six times seven?", "kind": kind, "verify": verify}
    async with gw.http(admin_key) as http:
        reply = await http.post("/v1/tasks", json=body)
    assert reply.status_code == 422, reply.text
    [error] = reply.json()["detail"]
    assert error["loc"] == ["body", "verify", field]
    assert message in error["msg"]
