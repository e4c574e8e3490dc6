"""`naestro rollout start|status|promote|rollback|abort|approve|reject`: canary and shadow
rollouts of a new worker version, gated by workflows/rollout.py."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import click
from rich.console import Console
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from naestro import deployments, rollouts
from naestro.config.settings import Settings
from naestro.connect import connect
from naestro.contracts.deploy import RolloutCommand, RolloutSpec, RolloutState
from naestro.contracts.rollout import GateRule
from naestro.errors import DeploymentError

console = Console()


def _context(ctx: click.Context, deployment: str | None) -> tuple[Settings, str]:
    settings: Settings = ctx.obj["settings"]()
    return settings, deployment or settings.deploy.name


def _run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from cli.main import run_async  # one clear line and exit 1 for every expected failure

    run_async(work)()


@click.group()
@click.option("--deployment", default=None, help="Worker deployment (default: deploy.name).")
@click.pass_context
def rollout(ctx: click.Context, deployment: str | None) -> None:
    """Canary and shadow rollouts of a new worker version, promoted or rolled back by a gate
    on measured outcomes (docs/operations.md, "Deploys")."""
    ctx.obj["deployment"] = deployment


@rollout.command()
@click.argument("build_id")
@click.option("--shadow", is_flag=True, help="Mirror a share of new tasks instead of a ramp.")
@click.option(
    "--percent", type=float, default=None, help="Share of new tasks (canary 10, shadow 3)."
)
@click.option("--interval", type=float, default=None, help="Seconds between the gate's looks.")
@click.option("--min-tasks", type=int, default=None, help="No promotion before (default 800).")
@click.option("--look-every", type=int, default=None, help="Candidate tasks between looks.")
@click.option("--max-tasks", type=int, default=None, help="The gate stops here (default 3200).")
@click.option(
    "--on-inconclusive",
    type=click.Choice(["rollback", "promote", "ask"]),
    default=None,
    help="What the gate does when its last look decides nothing.",
)
@click.option("--approval", is_flag=True, help="A person approves the gate's decision first.")
@click.option("--by", default="", help="Who starts it (shown in status and the Temporal UI).")
@click.pass_context
def start(ctx: click.Context, /, build_id: str, shadow: bool, **options: Any) -> None:
    """Roll out version BUILD_ID: its workers must be polling already."""

    async def work() -> None:
        settings, name = _context(ctx, ctx.obj.get("deployment"))
        client = await connect()
        state = await deployments.require(client, name)
        if state.current is None:
            raise DeploymentError(f"{name} has no current version: nothing to roll out from")
        spec = _spec(settings, name, state.current, build_id, shadow, options)
        handle = await rollouts.start(client, spec, settings.queues.orchestrator)
        console.print(
            f"{spec.mode} rollout of {build_id} at {spec.percent:g}% started "
            f"(baseline {state.current}); gate {handle.id}",
            highlight=False,
        )

    _run(work)


def _spec(
    settings: Settings,
    name: str,
    baseline: str,
    candidate: str,
    shadow: bool,
    options: dict[str, Any],
) -> RolloutSpec:
    deploy = settings.deploy
    rule: dict[str, Any] = {
        key: options[key]
        for key in ("min_tasks", "look_every", "max_tasks", "on_inconclusive")
        if options.get(key) is not None
    }
    default_percent = deploy.shadow_percent if shadow else deploy.canary_percent
    return RolloutSpec(
        deployment=name,
        baseline=baseline,
        candidate=candidate,
        mode="shadow" if shadow else "canary",
        percent=options.get("percent") or default_percent,
        rule=GateRule.model_validate(rule),
        interval_seconds=options.get("interval") or deploy.gate_interval_seconds,
        approval=bool(options.get("approval")),
        by=options.get("by") or "",
    )


@rollout.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """The deployment's routing, its versions (open pinned tasks, drainage) and the gate."""

    async def work() -> None:
        _, name = _context(ctx, ctx.obj.get("deployment"))
        client = await connect()
        state = await deployments.require(client, name)
        console.print(_routing_line(state), highlight=False)
        for version in state.versions:
            running = await _open_tasks(client, WorkerDeploymentVersion(name, version.build_id))
            drainage = f", {version.drainage}" if version.drainage else ""
            console.print(
                f"  {version.build_id}: {version.status}{drainage}, {running} open task(s)",
                highlight=False,
            )
        gate = await rollouts.state(client, name) or await rollouts.last(client, name)
        console.print(_gate_line(gate), highlight=False)

    _run(work)


def _routing_line(state: deployments.DeploymentState) -> str:
    ramp = f", ramping {state.ramping} at {state.ramp_percent:g}%" if state.ramping else ""
    return f"deployment {state.name}: current {state.current or '(unversioned)'}{ramp}"


async def _open_tasks(client: Client, version: WorkerDeploymentVersion) -> int:
    query = (
        f"TemporalWorkerDeploymentVersion = '{deployments.search_value(version)}' "
        "AND ExecutionStatus = 'Running'"
    )
    counted = await client.count_workflows(query)
    return counted.count


def _gate_line(gate: RolloutState | None) -> str:
    if gate is None:
        return "no rollout has run"
    spec = gate.spec
    line = f"rollout {spec.mode} {spec.candidate} at {spec.percent:g}%: {gate.phase}"
    if gate.measured is not None:
        m = gate.measured
        line += f"; tasks baseline {m.baseline.n}, candidate {m.candidate.n}"
    if gate.pending:
        line += f"; waiting for approval to {gate.pending} (`naestro rollout approve|reject`)"
    return line + (f"; {gate.reason}" if gate.reason else "")


def _command(action: str, doc: str) -> click.Command:
    @click.option("--reason", default="", help="Why (kept in the gate's state).")
    @click.option("--by", default="", help="Who.")
    @click.pass_context
    def order(ctx: click.Context, reason: str, by: str) -> None:
        async def work() -> None:
            _, name = _context(ctx, ctx.obj.get("deployment"))
            client = await connect()
            sent = RolloutCommand(action=action, by=by, reason=reason)
            if await rollouts.state(client, name) is None:
                await _without_gate(client, name, action)
                return
            final = await rollouts.command(client, name, sent)
            console.print(_gate_line(final), highlight=False)

        _run(work)

    order.__doc__ = doc
    return rollout.command(name=action)(order)


async def _without_gate(client: Client, name: str, action: str) -> None:
    """promote / rollback with no gate running: act on the deployment's ramp directly."""
    state = await deployments.require(client, name)
    if action not in ("promote", "rollback") or state.ramping is None:
        raise DeploymentError(f"no rollout of {name} is running and no version is ramping")
    if action == "promote":
        await deployments.set_current(client, WorkerDeploymentVersion(name, state.ramping))
        console.print(f"{state.ramping} is current")
    else:
        await deployments.set_ramping(client, name, None)
        console.print(f"ramp of {state.ramping} ended; {state.current} takes every new task")


_command("promote", "Promote the candidate now: it becomes the current version.")
_command("rollback", "Roll back now: the candidate gets no more new tasks.")
_command("abort", "Stop the rollout without a verdict; routing returns to the baseline.")
_command("approve", "Approve the decision the gate waits on.")
_command("reject", "Reject the decision the gate waits on (it goes the other way).")
