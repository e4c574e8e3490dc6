"""The `naestro` command line, run as a real subprocess against the test dev server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from naestro import names
from naestro.client import start_task
from naestro.config.settings import Settings, load_settings
from naestro.contracts import TaskRequest
from naestro.contracts.text import prompt_problem
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules

ROOT = Path(__file__).resolve().parent.parent


def naestro(
    args: list[str], *, address: str, config: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "COLUMNS": "200", "NO_COLOR": "1"}
    if config:
        env["NAESTRO_CONFIG"] = config
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _address(client: Client) -> str:
    return client.service_client.config.target_host


def _settings(tmp_path: Path) -> Settings:
    script = write_script(tmp_path / "s.jsonl", code_task_rules())
    return make_settings(tmp_path, [replay_provider(script)])


async def test_run_prints_answer_verification_cost_and_link(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with running_workers(client, settings):
        done = await _in_thread(["run", PROMPT, "--kind", "code"], client, settings.source)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "succeeded" in out
    assert "a + b" in out
    assert "verification [docker]: 2 passed" in out  # auto: Docker answers (bootstrap.sh)
    assert "cost: $" in out
    assert "http://localhost:8233/namespaces/default/workflows/task-" in out
    assert "SCRIPTED" in out
    # Progress lines (stdout is a pipe): each phase and each finished call, as they happen.
    assert "phase plan (round 0)" in out and "implement/implementer via scripted:" in out


async def _in_thread(
    args: list[str], client: Client, config: str
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(naestro, args, address=_address(client), config=config)


async def test_status_and_cancel_of_unknown_task(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for verb in ("status", "cancel"):
        done = await _in_thread([verb, "task-does-not-exist"], client, settings.source)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == ["error: no task with id 'task-does-not-exist'"]


async def test_status_without_a_worker_is_one_clear_line(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # no workers: nothing polls the task's queue
    handle = await start_task(
        client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
    )
    try:
        done = await _in_thread(["status", handle.id], client, settings.source)
    finally:
        await handle.terminate("test over")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: task {handle.id}: no worker answered for its queue, so its progress cannot "
        "be read (start `naestro dev` or `naestro worker`)"
    ]


def test_unreachable_temporal_is_one_clear_line(tmp_path: Path) -> None:
    done = naestro(["run", "hello"], address="127.0.0.1:1", config=str(ROOT / "temporal.yaml"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Temporal at 127.0.0.1:1" in lines[0]


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget:\n  max_usd: lots\n")
    done = naestro(["run", "hello"], address="127.0.0.1:1", config=str(bad))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "budget.max_usd" in done.stderr


def test_no_provider_configured(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("providers: []\n")
    done = naestro(["run", "hello"], address="127.0.0.1:1", config=str(empty))
    assert done.returncode == 1
    assert "no provider configured" in done.stderr


def test_invalid_task_names_the_field() -> None:
    done = naestro(
        ["run", "hello", "--priority", "9"],
        address="127.0.0.1:1",
        config=str(ROOT / "temporal.yaml"),
    )
    assert done.returncode == 1
    assert "invalid task: priority" in done.stderr


def test_unknown_queue_for_worker() -> None:
    done = naestro(
        ["worker", "-q", "naestro.models.nope"],
        address="127.0.0.1:1",
        config=str(ROOT / "temporal.yaml"),
    )
    assert done.returncode == 1
    assert "unknown queue(s) naestro.models.nope" in done.stderr


def test_help_lists_every_command() -> None:
    done = naestro(["--help"], address="127.0.0.1:1")
    for command in ("run", "status", "cancel", "worker", "dev", "demo"):
        assert command in done.stdout


async def test_status_of_a_failed_task_says_failed_and_why(client: Client, tmp_path: Path) -> None:
    # A policy no settings name (what the API and `naestro run` refuse): the workflow fails.
    settings = _settings(tmp_path)
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt=PROMPT, policy="nope"),
            task_queue=settings.queues.orchestrator,
        )
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
        done = await _in_thread(["status", handle.id], client, settings.source)
    assert done.returncode == 0, done.stderr
    first, reason = done.stdout.strip().splitlines()[:2]
    assert first.startswith(f"task {handle.id}: failed; phase ")
    assert reason.startswith("reason: ") and "nope" in reason


async def test_status_of_a_terminated_task_gives_the_reason(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # no workers: the reason needs none
    handle = await start_task(
        client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
    )
    await handle.terminate(reason="operator stopped it")
    done = await _in_thread(["status", handle.id], client, settings.source)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        f"task {handle.id}: terminated; its progress cannot be read (no worker)",
        "reason: terminated: operator stopped it",
    ]


def _refused(args: list[str], config: str = str(ROOT / "temporal.yaml")) -> str:
    """The one `error:` line a refused command prints (exit 1): nothing was started (the
    address reaches no Temporal, so a start would have said so instead)."""
    done = naestro(args, address="127.0.0.1:1", config=config)
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_unknown_policy_is_refused_with_the_apis_message() -> None:
    line = _refused(["run", "hello", "--policy", "nope"])
    settings = load_settings(ROOT / "temporal.yaml", environ={})
    assert line == f"error: {settings.policy_refusal('nope')}"
    assert line.startswith("error: unknown policy 'nope' (known: auto, ")


def test_task_id_the_api_cannot_name_is_refused() -> None:
    line = _refused(["run", "hello", "--id", "bad id/.."])
    assert line == f"error: --id: String should match pattern '{names.TASK_ID_PATTERN}'"


def test_missing_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    by_env = naestro(["run", "hello"], address="127.0.0.1:1", config=str(missing))
    by_flag = naestro(["--config", str(missing), "run", "hello"], address="127.0.0.1:1")
    assert by_env.returncode == 2 and by_flag.returncode == 2
    assert by_env.stderr.strip().splitlines() == [
        f"error: {missing}: no such config file (named by NAESTRO_CONFIG)"
    ]
    assert by_flag.stderr.strip().splitlines() == [f"error: {missing}: no such config file"]


def test_prompt_text_is_refused_as_the_api_refuses_it() -> None:
    for prompt in ("   ", "\x1b[31mred"):
        line = _refused(["run", prompt])
        assert line == f"error: invalid task: prompt: {prompt_problem(prompt)}"
