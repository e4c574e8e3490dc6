"""`naestro demo` as a user runs it, on a copy of the repository's temporal.yaml (its own
ports and data dir): scripted when asked, and otherwise on the embedded engine (here the
fast SmolLM2-135M) because no configured provider is usable without keys or GPUs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "XAI_API_KEY")
DROP = (*KEYS, "TEMPORAL_ADDRESS", "DATABASE_URL", "NAESTRO_CONFIG")
pytestmark = pytest.mark.timeout(900)  # the real run: engine start, model calls on 2 cores


def _config(tmp_path: Path) -> tuple[Path, int]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "temporal.yaml").read_text())
    engine_port = free_port()
    for p in data["providers"]:
        if p.get("script"):
            p["script"] = str(ROOT / p["script"])
        if p["id"] == "embedded":
            p.update(model="smollm2-135m-instruct", endpoint=f"http://127.0.0.1:{engine_port}/v1")
    [engine] = [e for e in data["engines"] if e["id"] == "embedded"]
    engine.update(model="bundled:smollm2-135m", port=engine_port, context_size=4096)
    data["dev"] = {
        **data.get("dev", {}),
        "data_dir": str(tmp_path / "data"),
        "temporal_port": free_port(),
        "ui_port": free_port(),
    }
    data.setdefault("api", {})["port"] = free_port()
    config = tmp_path / "temporal.yaml"
    config.write_text(yaml.safe_dump(data))
    return config, engine_port


def _demo(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in DROP}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--config", str(config), "demo", *args],
        cwd=ROOT,
        env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_scripted_demo_says_so(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    done = _demo(config, "--scripted")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OFFLINE SCRIPTED demo" in done.stdout
    assert "SCRIPTED" in done.stdout and "succeeded" in done.stdout


def test_demo_runs_on_the_embedded_engine_without_keys_or_gpus(tmp_path: Path) -> None:
    config, engine_port = _config(tmp_path)
    done = _demo(config)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "No configured provider is usable" in out
    assert "Running on the embedded engine: embedded (bundled:smollm2-135m)" in out
    assert "phase implement" in out  # progress, line by line (stdout is a pipe)
    assert "SCRIPTED" not in out and "embedded" in out  # real calls, in the calls table
    assert "verification [" in out  # its code ran in the sandbox
    assert not _listening(engine_port)  # the engine stopped with the demo
