"""A Replayer configured exactly like the orchestrator worker, and what a recorded history
went through (the paths the replay gate covers)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workers.orchestrator import FAILURE_TYPES, WORKFLOWS
from workers.runner import workflow_runner


def replayer(data_converter: DataConverter = pydantic_data_converter) -> Replayer:
    """``data_converter``: the codec-bearing one for histories fetched from the server."""
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=data_converter,
        workflow_failure_exception_types=FAILURE_TYPES,
    )


def _json(payloads: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payloads["payloads"][0]["data"]))


def _marks_of(event: dict[str, Any]) -> Iterator[str]:
    if marker := event.get("markerRecordedEventAttributes"):
        details = marker["details"]
        if marker["markerName"] == "core_patch":
            yield "patch:" + _json(details["patch-data"])["id"]
        else:
            yield "local:" + _json(details["data"])["activity_type"]
    if scheduled := event.get("activityTaskScheduledEventAttributes"):
        yield "activity:" + scheduled["activityType"]["name"]
        request = _json(scheduled["input"])
        if "role" in request and "phase" in request:
            yield f"call:{request['role']}/{request['phase']}"
    if update := event.get("workflowExecutionUpdateAcceptedEventAttributes"):
        request = update["acceptedRequest"]["input"]
        yield f"update:{request['name']}:{_json(request['args'])['action']}"
    if child := event.get("startChildWorkflowExecutionInitiatedEventAttributes"):
        yield "child:" + child["workflowType"]["name"]
    if "timerStartedEventAttributes" in event:
        yield "timer"
    if done := event.get("workflowExecutionCompletedEventAttributes"):
        result = _json(done["result"])
        if "status" in result:
            yield "status:" + result["status"]
        yield from (f"output_pii:{kind}" for kind in result.get("output_pii") or [])


def history_marks(text: str) -> Counter[str]:
    """What a recorded history (plaintext payloads) went through, with how often: patches,
    local activities, activities and the model calls' role/phase, updates and their action,
    child workflows, timers, and the task's final status and the new PII in its answer."""
    return Counter(mark for event in json.loads(text)["events"] for mark in _marks_of(event))
