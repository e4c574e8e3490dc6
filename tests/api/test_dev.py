"""`naestro dev` serves the API next to its workers: a real subprocess on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.api.conftest import _free_port
from tests.api.helpers import until

ROOT = Path(__file__).resolve().parents[2]


async def _cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_dev_serves_the_api_and_runs_a_task(tmp_path: Path) -> None:
    api_port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
    env |= {
        "NAESTRO__DEV__DATA_DIR": str(tmp_path / "data"),
        "NAESTRO__DEV__TEMPORAL_PORT": str(_free_port()),
        "NAESTRO__DEV__UI_PORT": str(_free_port()),
        "NAESTRO__API__PORT": str(api_port),
        "COLUMNS": "200",
    }
    log = (tmp_path / "dev.log").open("wb")
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "dev", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:

            async def up() -> bool:
                if dev.returncode is not None:
                    raise AssertionError((tmp_path / "dev.log").read_text()[-3000:])
                try:
                    return (await http.get("/openapi.json")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(up, within=90)
            key = (await _cli(env, "keys", "create", "--tenant", "dev", "--scope", "admin")).strip()
            http.headers["Authorization"] = f"Bearer {key}"
            body = {"prompt": "Write fizzbuzz(n) with tests", "kind": "code", "policy": "scripted"}
            started = await http.post("/v1/tasks", json=body)
            assert started.status_code == 202, started.text

            async def done() -> dict[str, object] | None:
                view = (await http.get(f"/v1/tasks/{started.json()['task_id']}")).json()
                return view if view["state"] == "completed" else None

            view = await until(done, within=60)
        assert view["result"]["scripted"] is True  # type: ignore[index]
    finally:
        if dev.returncode is None:
            dev.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(dev.wait(), 60)
        log.close()
    assert code == 0, (tmp_path / "dev.log").read_text()[-3000:]
