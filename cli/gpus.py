"""`naestro gpus`: this node's GPUs and MIG instances as NVML reads them now, the engines
holding each, and how each engine's GPUs are judged; `--plan` shows placement."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.gpu_jobs import leases_command, run_command
from naestro.config.settings import Settings
from naestro.contracts.gpu import GIB, EngineGpuHealth, GpuDevice
from naestro.errors import ConfigError, NaestroError
from workers.engines.supervisor import read_statuses
from workers.gpu.nvml import open_nvml
from workers.gpu.placement import Plan, format_plan, place
from workers.gpu.telemetry import GpuSampler

console = Console(highlight=False)
err_console = Console(stderr=True)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _owners(settings: Settings) -> dict[int, str]:
    """Engine pid (its session's leader) -> engine id, as the supervisor last recorded."""
    statuses = read_statuses(Path(settings.dev.data_dir) / "engines")
    return {s.pid: s.id for s in statuses if s.pid}


Sample = tuple[list[GpuDevice], Plan, str, dict[str, EngineGpuHealth]]


def _sample(settings: Settings) -> Sample:
    """Placement against what NVML shows (or the reason it fails), then one sample through
    the sampler, so processes and verdicts are what the worker sees (a one-off read has no
    ECC baseline: it cannot tell new errors from old)."""
    nvml = open_nvml(settings.gpu)
    try:
        read = nvml.devices()
        try:
            plan, problem = place(settings.engines, settings.gpu, read), ""
        except ConfigError as exc:
            plan, problem = {}, str(exc)
        owners = _owners(settings)
        sampler = GpuSampler(nvml, settings.gpu, placements=plan, owners=lambda: owners)
        return sampler.sample(read), plan, problem, sampler.verdicts
    finally:
        nvml.close()


def _pct(value: float | None, unit: str = "%") -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def _memory(d: GpuDevice) -> str:
    if d.error:
        return f"unreadable: {d.error}"
    used, total = d.memory_used_bytes / GIB, d.memory_total_bytes / GIB
    return f"{used:.1f}/{total:.1f} GiB ({d.memory_fraction:.0%})"


def _power(d: GpuDevice) -> str:
    if d.power_w is None:
        return "-"
    limit = f"/{d.power_limit_w:.0f}" if d.power_limit_w is not None else ""
    return f"{d.power_w:.0f}{limit} W"


def _health(d: GpuDevice, plan: Plan, verdicts: dict[str, EngineGpuHealth]) -> str:
    placed = [verdicts[e] for e, keys in plan.items() if d.key in keys and e in verdicts]
    return "; ".join(f"{v.engine_id}: {'ok' if v.ok else v.reason}" for v in placed) or "-"


def _row(d: GpuDevice, plan: Plan, verdicts: dict[str, EngineGpuHealth]) -> list[str]:
    kind = "(MIG on)" if d.mig_enabled else ""
    if d.mig_profile and d.mig_profile not in d.name:
        kind = f"MIG {d.mig_profile}"
    holders = sorted({p.engine or f"pid {p.pid}" for p in d.processes})
    return [
        d.key,
        f"{d.index} {d.name} {kind}".strip(),
        _memory(d),
        _pct(d.utilization_pct),
        _pct(d.temperature_c, " C"),
        _power(d),
        _pct(d.sm_clock_mhz, " MHz"),
        "-" if d.ecc_uncorrected is None else str(d.ecc_uncorrected),
        "-" if d.xid is None else str(d.xid),
        ", ".join(holders) or "-",
        _health(d, plan, verdicts),
    ]


def _table(devices: list[GpuDevice], plan: Plan, verdicts: dict[str, EngineGpuHealth]) -> Table:
    table = Table(title="GPUs")
    columns = ("device", "gpu", "memory", "util", "temp", "power", "SM clock", "ECC", "XID")
    for col in (*columns, "held by", "engine health"):
        table.add_column(col)
    for d in devices:
        table.add_row(*_row(d, plan, verdicts))
    return table


def _show_plan(settings: Settings, devices: list[GpuDevice], plan: Plan) -> None:
    if not plan:
        console.print(f"no engine of pool {settings.gpu.pool} declares gpus")
    for line in format_plan(plan, devices):
        console.print(line, soft_wrap=True)


# A group, so the GPU job commands (cli/gpu_jobs.py: `naestro gpus run|leases`) can join it;
# alone, `naestro gpus` lists the devices.
@click.group(name="gpus", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON.")
@click.option("--plan", is_flag=True, help="Print where each engine is placed.")
@click.pass_context
def gpus_command(ctx: click.Context, as_json: bool, plan: bool) -> None:
    """This node's GPUs and MIG instances (NVML, per `gpu.nvml`): memory, utilization,
    temperature, power, clocks, ECC and XID errors, the engines holding each and their
    health. --plan: each engine's devices and CUDA_VISIBLE_DEVICES (exit 2 when the
    engines' gpus cannot be placed on this node)."""
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj["settings"]()
    try:
        devices, placed, problem, verdicts = _sample(settings)
    except NaestroError as exc:  # a bad gpu.nvml, an unreadable fake file
        _fail(str(exc), 2)
        return
    if plan and problem:
        _fail(problem, 2)
    if as_json:
        click.echo(json.dumps([d.model_dump(mode="json") for d in devices], indent=2))
    elif plan:
        if not devices:
            console.print("no GPUs on this node: GPU indices are passed through unchecked")
        _show_plan(settings, devices, placed)
    elif not devices:
        console.print(f"no GPUs on this node (gpu.nvml: {settings.gpu.nvml})")
    else:
        console.print(_table(devices, placed, verdicts))
        if problem:
            console.print(f"placement: {problem}", soft_wrap=True)


gpus_command.add_command(run_command)
gpus_command.add_command(leases_command)
