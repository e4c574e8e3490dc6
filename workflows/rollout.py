"""RolloutWorkflow: a canary or shadow rollout of a new worker version, gated on measured
outcomes: route -> (measure -> decide)* -> approve? -> promote | roll back.

One per worker deployment (id ``naestro-rollout-<deployment>``). It changes the
deployment's routing in activities (activities/rollout.py), measures both versions' finished
tasks through visibility every ``interval_seconds`` (a durable timer: a worker restart
mid-evaluation resumes where it was), and leaves the decision to the pure rule in
naestro/gate.py. A person can promote, roll back or abort at any time, and approves the
gate's decision first when the rollout asks for it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ActivityError

from activities.rollout import RolloutActivities
from naestro import gate, names
from naestro.contracts.deploy import (
    GateStats,
    MeasureRequest,
    RolloutCommand,
    RolloutPhase,
    RolloutState,
    RouteAction,
    RouteChange,
)
from naestro.presets import ROLLOUT_STEP

Verdict = Literal["promote", "rollback"]
# Looks per run before continuing as new (the history of a months-long gate stays small).
LOOKS_PER_RUN = 500
_ENDS: dict[str, RolloutPhase] = {
    "promote": "promoted",
    "rollback": "rolled_back",
    "abort": "aborted",
}


class _Ended(Exception):
    def __init__(self, action: RouteAction, reason: str) -> None:
        super().__init__(reason)
        self.action: RouteAction = action
        self.reason = reason


@workflow.defn(
    name=names.ROLLOUT_WORKFLOW,
    # Pinned: the gate runs on the version that was current when it began, never on the
    # candidate it judges.
    versioning_behavior=VersioningBehavior.PINNED,
)
class RolloutWorkflow:
    def __init__(self) -> None:
        self._state: RolloutState | None = None
        self._command: RolloutCommand | None = None
        self._first_look = 0

    # ------------------------------------------------------------ handlers

    @workflow.query(name=names.ROLLOUT_STATE_QUERY)
    def state(self) -> RolloutState:
        assert self._state is not None
        return self._state

    @workflow.update(name=names.ROLLOUT_COMMAND_UPDATE)
    async def command(self, command: RolloutCommand) -> RolloutState:
        self._command = command
        await workflow.wait_condition(lambda: self._command is None or self._ended())
        return self.state()

    @command.validator
    def _check_command(self, command: RolloutCommand) -> None:
        state = self.state()
        if state.ended:
            raise ValueError(f"the rollout has ended ({state.phase})")
        if command.action in ("approve", "reject") and state.pending is None:
            raise ValueError("no decision waits for approval: promote, rollback or abort")
        if self._command is not None:
            raise ValueError(f"a {self._command.action} is already being applied")

    # ------------------------------------------------------------ run

    @workflow.run
    async def run(self, state: RolloutState) -> RolloutState:
        self._state = state
        self._first_look = state.looks
        try:
            if state.phase == "starting":
                await self._route("start")
                since = state.spec.since or workflow.now()  # tasks from here on count
                self._set(phase="measuring", spec=state.spec.model_copy(update={"since": since}))
            verdict, ask = await self._measure_until_decided()
            await self._approve(verdict, ask)
        except _Ended as end:
            await self._finish(end.action, end.reason)
        except ActivityError as err:  # measuring failed past its retries: back to baseline
            await self._finish("abort", f"stopped: {err.cause or err}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    async def _measure_until_decided(self) -> tuple[Verdict, bool]:
        """Measure every interval until the gate decides: its verdict, and whether a person
        must approve it (continues as new now and then, keeping what it measured)."""
        spec = self.state().spec
        interval = timedelta(seconds=spec.interval_seconds)
        while True:
            await self._wait_command(interval)
            stats = await self._measure()
            decision = gate.decide(
                spec.rule, stats.baseline, stats.candidate, stats.pairs, self.state().looks
            )
            self._set(looks=decision.look, last=decision, reason=decision.reason)
            if decision.action in ("promote", "rollback"):
                return decision.action, spec.approval
            if decision.action == "inconclusive":
                fallback = spec.rule.on_inconclusive
                if fallback == "ask":  # a person decides: approve promotes, reject rolls back
                    return "promote", True
                return fallback, spec.approval
            runs_long = self.state().looks - self._first_look >= LOOKS_PER_RUN
            idle = self._command is None  # a command that came meanwhile is handled first
            if idle and (runs_long or workflow.info().is_continue_as_new_suggested()):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.state())

    async def _approve(self, verdict: Verdict, ask: bool) -> None:
        """Apply the gate's decision, after a person's approval when the rollout asks."""
        if not ask:
            raise _Ended(verdict, self.state().reason)
        self._set(phase="awaiting_approval", pending=verdict)
        command = await self._next_command()
        who = command.by or "someone"
        if command.action == "approve":
            raise _Ended(verdict, f"{self.state().reason}; {verdict} approved by {who}")
        if command.action == "reject":  # the other way: a rejected promotion rolls back
            other: Verdict = "rollback" if verdict == "promote" else "promote"
            raise _Ended(other, f"{self.state().reason}; {verdict} rejected by {who}")
        raise _manual(command)

    # ------------------------------------------------------------ steps

    async def _wait_command(self, interval: timedelta) -> None:
        """Sleep one interval; a person's promote, rollback or abort ends the rollout now."""
        try:
            await workflow.wait_condition(lambda: self._command is not None, timeout=interval)
        except TimeoutError:
            return
        raise _manual(await self._next_command())

    async def _next_command(self) -> RolloutCommand:
        await workflow.wait_condition(lambda: self._command is not None)
        assert self._command is not None
        return self._command

    async def _measure(self) -> GateStats:
        stats: GateStats = await workflow.execute_activity_method(
            RolloutActivities.measure,
            MeasureRequest(spec=self.state().spec),
            start_to_close_timeout=ROLLOUT_STEP.start_to_close,
            heartbeat_timeout=ROLLOUT_STEP.heartbeat,
            retry_policy=ROLLOUT_STEP.retry,
            summary=f"measure {self.state().spec.baseline} vs {self.state().spec.candidate}",
        )
        self._set(measured=stats)
        return stats

    async def _route(self, action: RouteAction) -> None:
        spec = self.state().spec
        try:
            await workflow.execute_activity_method(
                RolloutActivities.route,
                RouteChange(spec=spec, action=action),
                start_to_close_timeout=ROLLOUT_STEP.start_to_close,
                retry_policy=ROLLOUT_STEP.retry,
                summary=f"{action} {spec.candidate} ({spec.mode})",
            )
        except ActivityError as err:
            if action != "start":
                raise
            self._set(phase="failed", reason=f"could not start: {err.cause or err}")
            raise _Ended("abort", self.state().reason) from None

    async def _finish(self, action: RouteAction, reason: str) -> None:
        """Apply the end's routing; a change the server keeps refusing ends it as failed
        (with the reason), never as a workflow that retries forever."""
        if self.state().phase != "failed":
            try:
                await self._route(action)
                self._set(phase=_ENDS[action], reason=reason, pending=None)
            except ActivityError as err:
                self._set(phase="failed", reason=f"{reason}; could not {action}: {err.cause}")
        self._command = None  # the update that asked for it returns the final state
        workflow.logger.info("rollout %s: %s", self.state().phase, reason)

    # ------------------------------------------------------------ plumbing

    def _ended(self) -> bool:
        return self.state().ended

    def _set(self, **changes: object) -> None:
        self._state = self.state().model_copy(update={**changes, "updated": workflow.now()})


def _manual(command: RolloutCommand) -> _Ended:
    if command.action in ("approve", "reject"):  # the validator admits these only when pending
        return _Ended("abort", f"{command.action} with nothing pending")
    by = command.by or "someone"
    reason = f"{command.action} by {by}" + (f": {command.reason}" if command.reason else "")
    return _Ended(command.action, reason)  # type: ignore[arg-type]
