"""SandboxActivities through temporalio's ActivityEnvironment, with a real sandbox."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.sandbox import Sandbox, SandboxActivities
from naestro.contracts import SandboxFile, VerifyRequest
from tests.sandbox.conftest import processes_with, script, token

pytestmark = pytest.mark.timeout(30)


async def test_verify_returns_a_report_and_heartbeats(sandbox: Sandbox) -> None:
    beats: list[tuple[object, ...]] = []
    activity_env = ActivityEnvironment()
    activity_env.on_heartbeat = lambda *details: beats.append(details)
    activities = SandboxActivities(sandbox, heartbeat_every_s=0.1)
    request = script("import time\ntime.sleep(0.5)\nprint('done')\n", token())
    report = await activity_env.run(activities.verify, request)
    assert report.passed and "done" in report.output
    assert len(beats) >= 2


async def test_sandbox_error_becomes_an_application_error(sandbox: Sandbox) -> None:
    request = VerifyRequest(files=[SandboxFile(path="../x.py", content="")])
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(SandboxActivities(sandbox).verify, request)
    assert caught.value.type == "SandboxError"
    assert "'../x.py'" in caught.value.message


async def test_cancelling_the_activity_kills_the_sandbox(sandbox: Sandbox) -> None:
    marker = token()
    request = script("import time\ntime.sleep(60)\n", marker, wall_seconds=25)
    activity_env = ActivityEnvironment()
    running = asyncio.create_task(activity_env.run(SandboxActivities(sandbox).verify, request))
    for _ in range(200):  # until the sandboxed process shows up on the host, 10 s at most
        if processes_with(marker):
            break
        await asyncio.sleep(0.05)
    activity_env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert processes_with(marker) == []
