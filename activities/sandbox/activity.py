"""The sandbox activity: run a VerifyRequest in the worker's Sandbox, heartbeating."""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.sandbox.base import Sandbox
from naestro.contracts import VerificationReport, VerifyRequest
from naestro.errors import SandboxError, to_application_error

HEARTBEAT_EVERY_S = 5.0


class SandboxActivities:
    def __init__(self, sandbox: Sandbox, heartbeat_every_s: float = HEARTBEAT_EVERY_S) -> None:
        self._sandbox = sandbox
        self._heartbeat_every_s = heartbeat_every_s

    @activity.defn(name="naestro.sandbox.verify")
    async def verify(self, request: VerifyRequest) -> VerificationReport:
        """Run the request's tests; failing tests are a report, a broken sandbox an error."""
        run = asyncio.create_task(self._sandbox.run(request))
        try:
            # Heartbeats carry Temporal's cancellation to us; heartbeat() is a no-op cost
            # when the caller set no heartbeat timeout.
            while not (await asyncio.wait({run}, timeout=self._heartbeat_every_s))[0]:
                activity.heartbeat()
            return run.result()
        except SandboxError as exc:
            raise to_application_error(exc) from exc
        finally:
            if not run.done():
                # Cancelled: the sandbox kills its process tree as its run unwinds; wait for
                # that, so no sandboxed process outlives the activity.
                run.cancel()
                await asyncio.wait({run})
