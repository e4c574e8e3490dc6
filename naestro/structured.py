"""Structured replies: the JSON schema a role needs, validation, and the repair prompt.

Pure (workflows import it). The schema travels in ``ModelRequest.response_schema`` and
each adapter sends it through its provider's native feature; the reply is validated here
with pydantic, repaired once with the validation error, then the call fails for good.
"""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from naestro.contracts import ChatMessage
from naestro.parsing import _json_objects

T = TypeVar("T", bound=BaseModel)
REPAIR_MARKER = "did not match the required schema"


def schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, a fresh copy each call (callers may change theirs)."""
    schema: dict[str, Any] = json.loads(_schema_text(model))
    return schema


@functools.cache
def _schema_text(model: type[BaseModel]) -> str:
    # Generating a schema costs 0.2 ms of CPU or more, and a workflow task paid it on every
    # structured call (3% of a worker's CPU in bench/overhead.py under py-spy); a model
    # class's schema never changes.
    return json.dumps(model.model_json_schema())


def _candidates(text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    return [stripped, *_json_objects(text)]


def validate(model: type[T], text: str) -> T:
    """The reply as ``model``; ValueError naming what is wrong otherwise."""
    error = "the reply holds no JSON object"
    for candidate in _candidates(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<root>"
            error = f"{where}: {first['msg']} ({exc.error_count()} error(s))"
    raise ValueError(error)


def repair_messages(
    messages: list[ChatMessage], reply: str, schema_name: str, error: str
) -> list[ChatMessage]:
    """The conversation again, with the bad reply and what was wrong with it."""
    return [
        *messages,
        ChatMessage(role="assistant", content=reply),
        ChatMessage(
            role="user",
            content=f"Your reply {REPAIR_MARKER} {schema_name}: {error}. "
            "Reply again with one JSON object that matches it, and nothing else.",
        ),
    ]
