"""`naestro run` and `naestro research start` with large inputs, and `run --workspace`,
as real subprocesses against the session's dev server."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import asyncpg
from temporalio.client import Client

from naestro.codec import EncryptionCodec
from naestro.contracts import TaskRequest
from tests.payloads.helpers import HUGE, huge_prompt
from tests.support import make_settings, replay_provider, write_script

ROOT = Path(__file__).resolve().parents[2]
LIMIT_LINE = f"error: prompt: {HUGE} characters, over the limit of 100000 (api.max_prompt_chars)"


def _config(tmp_path: Path) -> str:
    script = write_script(tmp_path / "s.jsonl", [{"text": "done"}])
    return make_settings(tmp_path, [replay_provider(script)]).source


async def _cli(
    client: Client, config: str, args: list[str], stdin: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`naestro ARGS` in a subprocess (in a thread: the test's event loop keeps running)."""
    environ = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "NAESTRO_CONFIG": config,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **env,
    }

    def run() -> subprocess.CompletedProcess[str]:
        with (stdin or Path(os.devnull)).open() as given:
            return subprocess.run(
                [sys.executable, "-m", "cli.main", *args],
                cwd=ROOT,
                env=environ,
                stdin=given,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

    return await asyncio.to_thread(run)


async def _started(client: Client, workflow_id: str) -> bool:
    return bool([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


async def test_a_3mb_prompt_is_one_line_and_starts_nothing(
    client: Client, codec: EncryptionCodec, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    big = tmp_path / "prompt.txt"
    big.write_text(huge_prompt("cli"), encoding="utf-8")
    ids = [f"task-big-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    from_file = await _cli(client, config, ["run", "--prompt-file", str(big), "--id", ids[0]])
    from_stdin = await _cli(client, config, ["run", "-", "--id", ids[1]], stdin=big)
    for done in (from_file, from_stdin):
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [LIMIT_LINE]
        assert "started" not in done.stdout
    for workflow_id in ids:
        assert not await _started(client, workflow_id)


async def test_a_research_goal_over_its_limit_is_one_line(
    client: Client, codec: EncryptionCodec, tmp_path: Path
) -> None:
    job_id = f"research-big-{uuid.uuid4().hex[:8]}"
    done = await _cli(client, _config(tmp_path), ["research", "start", "g" * 5000, "--id", job_id])
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: invalid research job: goal: String should have at most 4000 characters"
    ]
    assert not await _started(client, job_id)


async def test_workspace_flags_need_a_workspace(client: Client, tmp_path: Path) -> None:
    done = await _cli(client, _config(tmp_path), ["run", "fix it", "--dep", "attrs"])
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --test-command and --dep describe a --workspace: give one"
    ]


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "test_app.py").write_text(
        "from pkg.app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    return root


async def test_run_uploads_a_workspace_then_submits(
    client: Client, codec: EncryptionCodec, db_url: str, tmp_path: Path
) -> None:
    project = _project(tmp_path / "project")
    task_id = f"task-ws-{uuid.uuid4().hex[:8]}"
    args = ["run", "make the tests pass", "--kind", "code", "--workspace", str(project),
            "--test-command", "python -m pytest -q", "--dep", "attrs==24.2", "--id", task_id,
            "--no-wait"]  # fmt: skip
    done = await _cli(client, _config(tmp_path), args, DATABASE_URL=db_url)
    assert done.returncode == 0, done.stderr
    assert f"task {task_id} started" in done.stdout
    handle = client.get_workflow_handle(task_id)
    history = await handle.fetch_history()
    await handle.terminate("the test only reads its input")  # no worker polls its queue
    started = history.events[0].workflow_execution_started_event_attributes
    [request] = await client.data_converter.decode(started.input.payloads, [TaskRequest])
    assert request.verify is not None and request.verify.workspace is not None
    workspace = request.verify.workspace
    assert workspace.format == "tar" and workspace.archive.media_type == "application/gzip"
    assert workspace.test_command == ["python", "-m", "pytest", "-q"]
    assert workspace.dependencies == ["attrs==24.2"]

    conn = await asyncpg.connect(db_url)
    try:
        data = await conn.fetchval(
            "SELECT data FROM blobs WHERE sha256 = $1", workspace.archive.sha256
        )
    finally:
        await conn.close()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["pkg/app.py", "test_app.py"]  # no .git, no caches
