"""The structured-output checker: the first JSON value in a model's answer, validated
against a JSON schema (Draft 2020-12, formats asserted).

The JSON is the first fenced block that parses (```json ... ```), else the whole answer,
else the first ``{``/``[`` from which a JSON value decodes. Every error is reported with
its JSONPath, at most ``MAX_ERRORS`` of them (and how many more). A schema's ``$ref`` is
followed within the schema only: nothing is fetched.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing.exceptions import Unresolvable

from naestro.contracts.verify import CheckResult

CHECKER = "json_schema"
MAX_ERRORS = 20  # reported one by one
MAX_COUNTED = 1_000  # errors counted at all
MAX_ANSWER_CHARS = 1_000_000
MAX_STARTS = 200  # places a JSON value is looked for in the text
_MESSAGE_CHARS = 300


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid Draft 2020-12 schema, or None."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "".join(f"/{p}" for p in exc.absolute_path) or "/"
        return f"not a valid JSON schema (Draft 2020-12) at {where}: {_short(exc.message)}"
    return None


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "…"


def _fenced(text: str) -> list[str]:
    """The contents of fenced code blocks, in order, without their language line."""
    parts = text.split("```")
    blocks = []
    for inside in parts[1:-1:2]:
        first, _, rest = inside.partition("\n")
        blocks.append(rest if first.strip().isalnum() or not first.strip() else inside)
    return blocks


def first_json(text: str) -> tuple[Any, str]:
    """(the value, where it was found); ValueError saying why when there is none."""
    decoder = json.JSONDecoder()
    for block in _fenced(text):
        try:
            return json.loads(block), "fenced block"
        except ValueError:
            continue
    stripped = text.strip()
    try:
        return json.loads(stripped), "whole answer"
    except ValueError as exc:
        first_error = f"{exc}"
    starts = (i for i, ch in enumerate(stripped) if ch in "{[")
    for start in itertools.islice(starts, MAX_STARTS):
        try:
            return decoder.raw_decode(stripped, start)[0], "within the answer"
        except ValueError:
            continue
    raise ValueError(f"no JSON value in the answer ({first_error})")


def _path(error: ValidationError) -> str:
    path: str = error.json_path
    return path


def check(answer_text: str, schema: dict[str, Any]) -> CheckResult:
    """Whether the answer's JSON is valid against ``schema``; the summary lists the errors
    (the refine round's feedback)."""
    if len(answer_text) > MAX_ANSWER_CHARS:
        summary = f"the answer is over {MAX_ANSWER_CHARS} characters: not checked"
        return CheckResult(checker=CHECKER, passed=False, summary=summary)
    if (problem := schema_problem(schema)) is not None:
        return CheckResult(checker=CHECKER, passed=False, summary=f"the schema is {problem}")
    try:
        value, source = first_json(answer_text)
    except ValueError as exc:
        summary = f"{exc}: reply with one JSON value, e.g. in a ```json block"
        return CheckResult(checker=CHECKER, passed=False, summary=summary)
    validator = Draft202012Validator(
        schema,
        # The metaschemas only: jsonschema's default registry would fetch a remote $ref
        registry=SPECIFICATIONS,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    try:
        found = list(itertools.islice(validator.iter_errors(value), MAX_COUNTED))
    except Unresolvable as exc:
        summary = f"the schema's reference {exc} cannot be resolved (nothing is fetched)"
        return CheckResult(checker=CHECKER, passed=False, summary=summary)
    distinct = dict.fromkeys((_path(e), _short(e.message)) for e in sorted(found, key=_path))
    errors = [{"path": p, "message": m} for p, m in distinct][:MAX_ERRORS]
    details: dict[str, Any] = {"source": source, "error_count": len(found), "errors": errors}
    if not found:
        summary = f"the JSON ({source}) matches the schema"
        return CheckResult(checker=CHECKER, passed=True, summary=summary, details=details)
    listed = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
    more = len(distinct) - len(errors)
    counted = f"{len(found)}{'+' if len(found) == MAX_COUNTED else ''}"
    tail = f"; and {more} more" if more else ""
    summary = f"the JSON ({source}) does not match the schema, {counted} error(s): {listed}{tail}"
    return CheckResult(checker=CHECKER, passed=False, summary=summary, details=details)
