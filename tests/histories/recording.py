"""What the history recorders share: a dev server with plaintext payloads (so the files are
readable and replay with or without a codec) and the file format of a recorded history."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.devstack import find_temporal
from naestro import search

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).parent


@asynccontextmanager
async def recording_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(ROOT / ".naestro"),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
        yield env


def save(name: str, history: WorkflowHistory) -> None:
    data = json.loads(history.to_json())
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    sys.stdout.write(f"recorded {name}: {len(history.events)} events\n")
