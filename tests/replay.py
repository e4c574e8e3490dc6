"""A Replayer configured like the orchestrator worker (its sandbox strict), the replay gate
that applies the generation rule (workflows/versions.py) to recorded histories, and what a
recorded history went through (the paths the gate covers)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.common import VersioningBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workers.orchestrator import FAILURE_TYPES, WORKFLOWS
from workers.runner import workflow_runner
from workflows.versions import REPLAYS_SINCE

_GENERATION = re.compile(r"^v(\d+)_")
# How the SDK's core names the event a replay diverged at: "[TMPRL1100] Nondeterminism
# error: ... HistoryEvent(id: 5, UpsertWorkflowSearchAttributes)".
_EVENT_ID = re.compile(r"HistoryEvent\(id: (\d+)")
_CORE_MESSAGE = re.compile(r'\[TMPRL\d+\][^"]*')
# ... and a patch's marker met where today's code calls no `patched`, with no event id.
_PATCH_MET = re.compile(r"patch marker encountered for change (\S+?),")


def replayer(
    data_converter: DataConverter = pydantic_data_converter,
    workflows: Sequence[type] = WORKFLOWS,
) -> Replayer:
    """``data_converter``: the codec-bearing one for histories fetched from the server. The
    strict sandbox: workflow code re-imported per run, its restricted calls caught (workers
    pass it through, workers/runner.py)."""
    return Replayer(
        workflows=workflows,
        workflow_runner=workflow_runner(strict=True),
        data_converter=data_converter,
        workflow_failure_exception_types=FAILURE_TYPES,
    )


def generation_of(path: Path) -> int:
    """A history's generation, from its file name: ``vN_*.json`` is N, no prefix is 1."""
    match = _GENERATION.match(path.name)
    return int(match.group(1)) if match else 1


@dataclass(frozen=True)
class Recorded:
    """One history file: replayed under its stem as the workflow id (recorders start each
    task with its stem as the id)."""

    path: Path
    events: list[dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> Recorded:
        return cls(path, json.loads(path.read_text(encoding="utf-8"))["events"])

    @property
    def workflow_id(self) -> str:
        return self.path.stem

    @property
    def workflow_type(self) -> str:
        started = self.events[0]["workflowExecutionStartedEventAttributes"]
        name: str = started["workflowType"]["name"]
        return name

    @property
    def generation(self) -> int:
        return generation_of(self.path)

    def history(self) -> WorkflowHistory:
        return WorkflowHistory.from_json(self.workflow_id, {"events": self.events})

    def marker_of(self, patch: str) -> int:
        """The id of the event that recorded ``patch``'s marker (0: none did)."""
        for event in self.events:
            if f"patch:{patch}" in _marks_of(event):
                return int(event["eventId"])
        return 0

    def event(self, event_id: int) -> str:
        """``event 11 (ACTIVITY_TASK_SCHEDULED)``."""
        for event in self.events:
            if int(event["eventId"]) == event_id:
                kind = str(event["eventType"]).removeprefix("EVENT_TYPE_")
                return f"event {event_id} ({kind})"
        return f"event {event_id} (past the history's end)"


@dataclass
class GateReport:
    """The files replayed on today's code, and those exempt (pinned, older generation)."""

    replayed: list[str] = field(default_factory=list)
    exempt: list[str] = field(default_factory=list)


def behaviours(workflows: Iterable[type]) -> dict[str, VersioningBehavior]:
    """Each registered workflow type's versioning behaviour, from its definition."""
    found = {}
    for cls in workflows:
        defn = workflow._Definition.must_from_class(cls)
        behaviour = defn.versioning_behavior or VersioningBehavior.UNSPECIFIED
        found[defn.name or cls.__name__] = behaviour
    return found


def exempt(recorded: Recorded, behaviour: VersioningBehavior, since: int) -> bool:
    """Pinned runs of a generation before ``since`` finish on the workers of their own
    version; every other history (auto-upgrading or unspecified types, generations today's
    code still replays) must replay."""
    return behaviour == VersioningBehavior.PINNED and recorded.generation < since


def divergence(recorded: Recorded, failure: Exception) -> str:
    """What the gate says about a history today's code does not replay: the file, its
    workflow type and id, and the event it diverged at (else the SDK's whole message)."""
    message = str(failure)
    event_id = _EVENT_ID.search(message)
    core = _CORE_MESSAGE.search(message)
    patch = _PATCH_MET.search(message)
    at = int(event_id.group(1)) if event_id else recorded.marker_of(patch.group(1)) if patch else 0
    where = recorded.event(at) if at else "an unnamed event"
    return (
        f"{recorded.path.name}: {recorded.workflow_type} (workflow id {recorded.workflow_id},"
        f" generation {recorded.generation}) diverges from today's code at {where}:"
        f" {core.group(0) if core and at else message}"
    )


async def replay_gate(
    paths: Iterable[Path],
    workflows: Sequence[type] = WORKFLOWS,
    since: int = REPLAYS_SINCE,
) -> GateReport:
    """Replay every history today's code must replay (workflows/versions.py); raise an
    AssertionError naming each one that diverges, or return what was replayed and exempt."""
    known, replaying = behaviours(workflows), replayer(workflows=workflows)
    report, failures = GateReport(), []
    for path in paths:
        recorded = await asyncio.to_thread(Recorded.load, path)
        behaviour = known.get(recorded.workflow_type)
        if behaviour is None:
            failures.append(f"{path.name}: {recorded.workflow_type} is no registered workflow")
            continue
        if exempt(recorded, behaviour, since):
            report.exempt.append(path.name)
            continue
        result = await replaying.replay_workflow(recorded.history(), raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures.append(divergence(recorded, result.replay_failure))
        else:
            report.replayed.append(path.name)
    if failures:
        raise AssertionError(
            "\n".join(failures) + "\nGuard the change with workflow.patched, or (pinned "
            "types only) declare it incompatible: raise GENERATION and REPLAYS_SINCE in "
            "workflows/versions.py and ship it as a new worker deployment version."
        )
    return report


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
        if isinstance(request, dict) and "role" in request and "phase" in request:
            yield f"call:{request['role']}/{request['phase']}"
    if update := event.get("workflowExecutionUpdateAcceptedEventAttributes"):
        request = update["acceptedRequest"]["input"]
        args = _json(request["args"])
        action = args.get("action") if isinstance(args, dict) else None
        yield f"update:{request['name']}" + (f":{action}" if action else "")
    if child := event.get("startChildWorkflowExecutionInitiatedEventAttributes"):
        yield "child:" + child["workflowType"]["name"]
    if "timerStartedEventAttributes" in event:
        yield "timer"
    if done := event.get("workflowExecutionCompletedEventAttributes"):
        result = _json(done["result"])
        if isinstance(result, dict) and "status" in result:  # a task's result
            yield "status:" + result["status"]
            yield from (f"output_pii:{kind}" for kind in result.get("output_pii") or [])
    if "workflowExecutionContinuedAsNewEventAttributes" in event:
        yield "continued_as_new"
    if failed := event.get("workflowExecutionFailedEventAttributes"):
        yield "failed:" + failed["failure"].get("applicationFailureInfo", {}).get("type", "")


def history_marks(text: str) -> Counter[str]:
    """What a recorded history (plaintext payloads) went through, with how often: patches,
    local activities, activities and the model calls' role/phase, updates and their action,
    child workflows, timers, continue-as-new, the task's final status and the new PII in its
    answer, and the error type a failed run ended with."""
    return Counter(mark for event in json.loads(text)["events"] for mark in _marks_of(event))
