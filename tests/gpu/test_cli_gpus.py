"""`naestro gpus` over a fake NVML file (gpu.nvml: fake:<path>, set from the environment as
an operator would): the table, --json, --plan, and placement errors as one line."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli.main import main
from naestro.contracts.gpu import GIB, GpuDevice, GpuProcess
from tests.support import make_settings
from workers.engines.supervisor import EngineStatus
from workers.gpu.nvml import fake_gpu, fake_mig, write_fake

ENGINE_PID = os.getpid()  # the fake lists it on GPU 0; big's status file names it


def node(gpu0_used_gib: float = 10.0) -> list[GpuDevice]:
    held = [GpuProcess(pid=ENGINE_PID, used_bytes=9 * GIB)]
    return [
        fake_gpu(0, used_gib=gpu0_used_gib, processes=held, temperature_c=55.0, power_w=300.0),
        fake_gpu(1, mig_enabled=True),
        fake_mig(1, 0),
        fake_mig(1, 1),
    ]


def config(tmp_path: Path, small: list[Any] | None = None) -> str:
    providers = [
        {"id": eid, "engine": "vllm", "endpoint": f"http://127.0.0.1:{port}/v1", "model": "m"}
        for eid, port in (("big", 9001), ("small", 9002))
    ]
    engines = [
        {"id": "big", "kind": "vllm", "model": "m", "port": 9001, "gpus": [0]},
        {"id": "small", "kind": "vllm", "model": "m", "port": 9002, "gpus": small or ["1g.10gb"]},
    ]
    data = tmp_path / "data"
    (data / "engines").mkdir(parents=True)
    status = EngineStatus("big", "vllm", "http://127.0.0.1:9001/v1", "m", "ready", ENGINE_PID)
    (data / "engines" / "big.json").write_text(json.dumps(asdict(status)))
    settings = make_settings(tmp_path, providers, engines=engines, dev={"data_dir": str(data)})
    return settings.source


def gpus(tmp_path: Path, *args: str, devices: list[GpuDevice] | None = None, **kw: Any) -> Result:
    tmp_path.mkdir(exist_ok=True)
    fake = tmp_path / "gpus.json"
    write_fake(fake, node() if devices is None else devices)
    nvml = "none" if devices == [] else f"fake:{fake}"
    env = {"NAESTRO__GPU__NVML": nvml, "COLUMNS": "250", "NO_COLOR": "1"}
    return CliRunner().invoke(main, ["--config", config(tmp_path, **kw), "gpus", *args], env=env)


def test_the_table_shows_devices_holders_and_health(tmp_path: Path) -> None:
    done = gpus(tmp_path)
    assert done.exit_code == 0, done.output
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert "10.0/80.0 GiB (12%)" in rows["0"] and "300 W" in rows["0"] and "55 C" in rows["0"]
    assert "big: ok" in rows["0"] and "│ big " in rows["0"]  # held by big, healthy
    assert "(MIG on)" in rows["1"]
    assert "MIG 1g.10gb" in rows["MIG-fake-0100"] and "small: ok" in rows["MIG-fake-0100"]
    assert "small" not in rows["MIG-fake-0101"]


def test_an_unhealthy_gpu_shows_why(tmp_path: Path) -> None:
    done = gpus(tmp_path, devices=node(gpu0_used_gib=80))
    assert "big: GPU 0 out of memory (80.0 of 80.0 GiB)" in done.stdout


def test_json_lists_every_device_with_its_engine(tmp_path: Path) -> None:
    done = gpus(tmp_path, "--json")
    assert done.exit_code == 0, done.output
    listed = [GpuDevice.model_validate(d) for d in json.loads(done.stdout)]
    assert [d.key for d in listed] == ["0", "1", "MIG-fake-0100", "MIG-fake-0101"]
    assert listed[0].processes[0].engine == "big"


def test_plan_gives_each_engine_its_cuda_visible_devices(tmp_path: Path) -> None:
    done = gpus(tmp_path, "--plan")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0].startswith("big: CUDA_VISIBLE_DEVICES=0  GPU 0 Fake H100 80GB (80 GiB)")
    assert lines[1].startswith(
        "small: CUDA_VISIBLE_DEVICES=MIG-fake-0100  GPU 1 MIG 1g.10gb (10 GiB)"
    )


def test_a_placement_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = gpus(tmp_path, "--plan", small=["2g.20gb"])
    assert done.exit_code == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: engines.small.gpus: no free MIG 2g.20gb instance; free instances: "
        "MIG-fake-0100 (GPU 1 MIG 1g.10gb), MIG-fake-0101 (GPU 1 MIG 1g.10gb)\n"
    )
    table = gpus(tmp_path / "t", small=["2g.20gb"])  # the table still shows the devices
    assert table.exit_code == 0
    assert "placement: engines.small.gpus: no free MIG 2g.20gb instance" in table.stdout


def test_without_gpus_it_says_so_and_still_plans_indices(tmp_path: Path) -> None:
    done = gpus(tmp_path, devices=[])
    assert done.exit_code == 0, done.output
    assert done.stdout == "no GPUs on this node (gpu.nvml: none)\n"
    assert gpus(tmp_path / "j", "--json", devices=[]).stdout == "[]\n"
    plan = gpus(tmp_path / "p", "--plan", devices=[], small=[1])
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.splitlines() == [
        "no GPUs on this node: GPU indices are passed through unchecked",
        "big: CUDA_VISIBLE_DEVICES=0  GPU 0 (unchecked)",
        "small: CUDA_VISIBLE_DEVICES=1  GPU 1 (unchecked)",
    ]
    profile = gpus(tmp_path / "q", "--plan", devices=[])
    assert profile.exit_code == 2
    assert "placing 1g.10gb needs the node's GPUs" in profile.stderr


def test_a_missing_fake_file_is_one_line(tmp_path: Path) -> None:
    env = {"NAESTRO__GPU__NVML": f"fake:{tmp_path / 'absent.json'}"}
    done = CliRunner().invoke(main, ["--config", config(tmp_path), "gpus"], env=env)
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1 and "absent.json" in done.stderr
