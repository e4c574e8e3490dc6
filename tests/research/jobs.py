"""What the ResearchWorkflow tests share: settings with memory on the test's Postgres,
scripted replies, a document to cite, and reading a job's view, prompts and runs."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from activities.memory.chunking import Chunk
from activities.memory.store import NewDocument
from naestro import names
from naestro.config.settings import Settings
from naestro.contracts.research import ResearchResult, ResearchView, SteerCommand, SteerOutcome
from tests.support import make_settings, recorded_requests, replay_provider, write_script
from tests.workflow.scripts import verdict
from workers.deps import Deps

GOAL = "Explain what drives ocean tides."
QUESTIONS = [
    "What force raises the tides?",
    "Why are there two tides a day?",
    "What are spring tides?",
]
DOC = (
    "Tides are raised by the Moon's gravity: the ocean bulges toward the Moon and on the "
    "far side, so most coasts see two high tides a day. Spring tides come when the Sun and "
    "Moon line up."
)
REPORT = "Tides are driven by the Moon's gravity [1]."
JobHandle = WorkflowHandle[object, ResearchResult]
_QUESTION = re.compile(r"Question (q\d+):")


def rules(judge: float = 0.3, planner: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"role": "planner", "text": json.dumps({"questions": planner or []})},
        {"role": "implementer", "text": "The Moon's gravity pulls the ocean into bulges [S1]."},
        {"role": "judge", "text": verdict(judge, "revise" if judge < 0.85 else "accept")},
        {"role": "refiner", "text": REPORT},
    ]


def research_settings(
    tmp_path: Path,
    url_env: str,
    script_rules: list[dict[str, Any]],
    record: Path | None = None,
    **provider: Any,
) -> Settings:
    script = write_script(tmp_path / f"script-{uuid.uuid4().hex[:6]}.jsonl", script_rules)
    extra = {"record": str(record)} if record else {}
    return make_settings(
        tmp_path,
        [replay_provider(script, **extra, **provider)],
        memory={"enabled": True, "database_url_env": url_env},
    )


async def add_document(deps: Deps, text: str = DOC, source: str = "tides.md") -> None:
    ingestor = await deps.memory.service.ingestor()
    await ingestor.add_text(NewDocument("default", "docs", source, text, [Chunk("", text)]))


def job_id() -> str:
    return f"{names.RESEARCH_ID_PREFIX}{uuid.uuid4().hex[:10]}"


async def view(handle: JobHandle) -> ResearchView:
    return await handle.query(names.RESEARCH_QUERY, result_type=ResearchView)


async def wait_view(
    handle: JobHandle, ok: Callable[[ResearchView], bool], seconds: float = 60
) -> ResearchView:
    """The job's view once ``ok`` holds (polled)."""
    last: ResearchView | None = None
    for _ in range(int(seconds / 0.05)):
        try:
            last = await view(handle)
        except Exception:  # a run handing over, a restarting server: ask again
            await asyncio.sleep(0.05)
            continue
        if ok(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never got there; last seen: {last}")


async def steer(handle: JobHandle, **command: Any) -> SteerOutcome:
    return await handle.execute_update(
        names.RESEARCH_STEER_UPDATE, SteerCommand(**command), result_type=SteerOutcome
    )


def gathered(record: Path) -> list[str]:
    """The question ids the implementer was asked, in order (from the provider's record)."""
    ids = []
    for request in recorded_requests(record):
        if request.role == "implementer":
            found = _QUESTION.search(request.messages[-1].content)
            ids.append(found.group(1) if found else "?")
    return ids


def prompts_of(record: Path, role: str) -> list[str]:
    return [r.messages[-1].content for r in recorded_requests(record) if r.role == role]


async def runs(client: Client, job: str) -> list[WorkflowHistory]:
    """Every run's history, first to last: each run's start names the run it continues."""
    run_id: str | None = (await client.get_workflow_handle(job).describe()).run_id
    histories: list[WorkflowHistory] = []
    while run_id:
        history = await client.get_workflow_handle(job, run_id=run_id).fetch_history()
        histories.insert(0, history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
    return histories


def size(history: WorkflowHistory) -> tuple[int, int]:
    """A run's history: events, and bytes as serialized."""
    return len(history.events), sum(e.ByteSize() for e in history.events)
