"""Verification through the OpenAI-compatible endpoint: ``naestro.verify`` (the openai
client's ``extra_body``) and ``response_format``, reported in the response's ``naestro``
object and in a stream's last chunk. The scripted model answers "The answer is 42."."""

from __future__ import annotations

import json
import uuid
from typing import Any

import openai
import pytest

from tests.api.conftest import Gw


def _client(gw: Gw, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def _ask() -> list[Any]:
    return [{"role": "user", "content": f"What is six times seven? {uuid.uuid4()}"}]


def _naestro(reply: Any) -> dict[str, Any]:
    extra: dict[str, Any] = reply.model_extra or {}
    return dict(extra["naestro"])


async def test_an_expected_answer_is_checked_and_reported(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    reply = await client.chat.completions.create(
        model="naestro-task",
        messages=_ask(),
        extra_body={"naestro": {"verify": {"expected_answer": "\\frac{84}{2}"}}},
    )
    await client.close()
    report = _naestro(reply)
    assert reply.choices[0].message.content == "The answer is 42."
    assert report["status"] == "succeeded"
    assert [(c["checker"], c["passed"]) for c in report["checks"]] == [("math", True)]
    assert report["verification"]["passed"] and report["verification"]["backend"] == "checks"
    assert "checks passed: math" in report["verification"]["summary"]
    assert report["confidence"] > 0.9


async def test_a_wrong_answer_fails_its_check_and_ends_unverified(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    reply = await client.chat.completions.create(
        model="naestro-task",
        messages=_ask(),
        extra_body={"naestro": {"verify": {"checker": "math", "expected_answer": "41"}}},
    )
    await client.close()
    report = _naestro(reply)
    assert report["status"] == "unverified"
    assert [(c["checker"], c["passed"]) for c in report["checks"]] == [("math", False)]
    assert "is not the expected answer" in report["checks"][0]["summary"]
    assert not report["verification"]["passed"]
    assert report["confidence"] == 0.0


async def test_response_format_json_schema_is_checked(gw: Gw, admin_key: str) -> None:
    schema = {"type": "object", "required": ["answer"]}
    client = _client(gw, admin_key)
    reply = await client.chat.completions.create(
        model="naestro-task",
        messages=_ask(),
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        extra_body={"naestro": {"verify": {}}},
    )
    await client.close()
    report = _naestro(reply)
    assert report["status"] == "unverified"  # "The answer is 42." is no JSON
    [check] = report["checks"]
    assert check["checker"] == "json_schema" and not check["passed"]
    assert "no JSON value in the answer" in check["summary"]


async def test_a_stream_reports_the_checks_in_its_last_chunk(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    stream = await client.chat.completions.create(
        model="naestro-task",
        messages=_ask(),
        stream=True,
        extra_body={"naestro": {"verify": {"expected_answer": "42"}}},
    )
    chunks = [chunk async for chunk in stream]
    await client.close()
    last = (chunks[-1].model_extra or {})["naestro"]
    assert [(c["checker"], c["passed"]) for c in last["checks"]] == [("math", True)]
    assert last["verification"]["passed"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"naestro": {"verify": {"checker": "math"}}}, "needs an expected answer"),
        ({"naestro": {"verify": {"expected_answer": "2 +* 3)"}}}, "cannot be read as mathematics"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 3}}}},
            "not a valid JSON schema",
        ),
        ({"naestro": {"verify": {"json_schema": {"minimum": "x"}}}}, "not a valid JSON schema"),
    ],
)
async def test_checks_that_could_never_run_are_refused(
    gw: Gw, admin_key: str, extra: dict[str, Any], message: str
) -> None:
    async with gw.http(admin_key) as http:
        body = {"model": "naestro-task", "messages": _ask(), **extra}
        reply = await http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 422, reply.text
    assert message in json.dumps(reply.json())
