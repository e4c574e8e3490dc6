"""The JSON-schema checker: valid, invalid (every error's path), no JSON, a bad schema,
and a remote $ref that is never fetched."""

from __future__ import annotations

from typing import Any

import pytest

from naestro.checkers.schema import MAX_ERRORS, check, first_json, schema_problem

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ('Here it is:\n```json\n{"name": "Ada", "age": 36}\n```\nDone.', "fenced block"),
        ('```\n{"name": "Ada", "age": 36}\n```', "fenced block"),
        ('  {"name": "Ada", "age": 36, "tags": ["maths"]}  ', "whole answer"),
        ('The record is {"name": "Ada", "age": 36} as asked.', "within the answer"),
    ],
)
def test_valid_json_passes(answer: str, source: str) -> None:
    result = check(answer, PERSON)
    assert result.passed, result.summary
    assert result.details == {"source": source, "error_count": 0, "errors": []}


def test_every_error_is_reported_with_its_path() -> None:
    result = check('{"name": 1, "age": -1, "tags": [1, "x", 2], "extra": 0}', PERSON)
    assert not result.passed
    paths = [e["path"] for e in result.details["errors"]]
    assert paths == ["$", "$.age", "$.name", "$.tags[0]", "$.tags[2]"]
    assert result.details["error_count"] == 5
    assert "$.age: -1 is less than the minimum of 0" in result.summary
    assert "'extra' was unexpected" in result.summary


def test_errors_are_bounded() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    result = check(str(list(range(100))), schema)
    assert len(result.details["errors"]) == MAX_ERRORS
    assert result.details["error_count"] == 100
    assert "and 80 more" in result.summary


@pytest.mark.parametrize("answer", ["not json at all", '{"name": "Ada", ', ""])
def test_an_answer_without_json_fails(answer: str) -> None:
    result = check(answer, PERSON)
    assert not result.passed
    assert result.summary.startswith("no JSON value in the answer")


def test_first_json_prefers_a_fenced_block() -> None:
    assert first_json('[1] then ```json\n{"a": 2}\n```') == ({"a": 2}, "fenced block")
    with pytest.raises(ValueError, match="no JSON value"):
        first_json("{nope")


@pytest.mark.parametrize(
    ("schema", "where"),
    [({"type": "nope"}, "/type"), ({"properties": {"a": {"minimum": "x"}}}, "/properties/a")],
)
def test_invalid_schemas_are_named(schema: dict[str, Any], where: str) -> None:
    found = schema_problem(schema)
    assert found is not None and f"at {where}" in found
    assert check("{}", schema).summary.startswith("the schema is not a valid JSON schema")


def test_local_refs_resolve_and_remote_ones_are_never_fetched() -> None:
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert check('{"a": 1}', local).passed
    assert not check('{"a": "x"}', local).passed
    remote = {"$ref": "http://127.0.0.1:9/schema.json"}
    result = check('{"a": 1}', remote)
    assert not result.passed and "cannot be resolved (nothing is fetched)" in result.summary


def test_formats_are_asserted() -> None:
    schema = {"properties": {"when": {"type": "string", "format": "date"}}}
    assert check('{"when": "2024-02-29"}', schema).passed
    assert not check('{"when": "yesterday"}', schema).passed
