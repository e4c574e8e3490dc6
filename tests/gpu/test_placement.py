"""Placement of engines on GPUs and MIG instances: the static claim checks of settings, and
resolution against fake NVML devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from naestro.config.settings import EngineConfig, GpuConfig, Settings
from naestro.contracts.gpu import GpuDevice
from naestro.errors import ConfigError
from tests.support import make_settings
from workers.engines.launch import launch
from workers.gpu.nvml import fake_gpu, fake_mig
from workers.gpu.placement import format_plan, place
from workers.gpu.real import NvmlUnavailable, RealNvml, mig_profile

GPU = GpuConfig()


def engines(*specs: tuple[str, list[int | str]], pool: str | None = None) -> list[EngineConfig]:
    return [
        EngineConfig(id=eid, kind="vllm", model="m", port=9000 + n, gpus=gpus, pool=pool)
        for n, (eid, gpus) in enumerate(specs)
    ]


def settings_with(tmp_path: Path, *specs: tuple[str, list[Any]], **extra: Any) -> Settings:
    providers = [
        {"id": eid, "engine": "vllm", "endpoint": "http://127.0.0.1:1/v1", "model": "m"}
        for eid, _ in specs
    ]
    declared = [
        {"id": eid, "kind": "vllm", "model": "m", "port": 9000 + n, "gpus": gpus, **extra}
        for n, (eid, gpus) in enumerate(specs)
    ]
    return make_settings(tmp_path, providers, engines=declared)


def mig_node() -> list[GpuDevice]:
    """GPU 0 whole; GPU 1 split into two 1g.10gb and one 2g.20gb."""
    return [
        fake_gpu(0),
        fake_gpu(1, mig_enabled=True),
        fake_mig(1, 0),
        fake_mig(1, 1),
        fake_mig(1, 2, "2g.20gb", total_gib=20),
    ]


# --- static claims (no NVML): Settings refuses them, naming both engines -----------------


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        ([0], [0], "both claim GPU 0"),
        (["MIG-x"], ["MIG-x"], "both claim GPU MIG-x"),
        ([1], ["1:1g.10gb"], "claims all of GPU 1"),
    ],
)
def test_settings_refuse_a_gpu_claimed_twice(
    tmp_path: Path, first: list[Any], second: list[Any], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(tmp_path, ("a", first), ("b", second))
    message = str(caught.value)
    assert words in message
    assert "engines.a.gpus" in message and "engines.b.gpus" in message


def test_settings_allow_two_pools_on_the_same_index(tmp_path: Path) -> None:
    providers = [
        {"id": eid, "engine": "vllm", "endpoint": "http://127.0.0.1:1/v1", "model": "m"}
        for eid in ("a", "b")
    ]
    declared = [
        {"id": "a", "kind": "vllm", "model": "m", "port": 9000, "gpus": [0], "pool": "local"},
        {"id": "b", "kind": "vllm", "model": "m", "port": 9001, "gpus": [0], "pool": "other"},
    ]
    settings = make_settings(tmp_path, providers, engines=declared)
    assert place(settings.engines, GPU, [fake_gpu(0)]) == {"a": ["0"]}  # b is another node's
    assert place(settings.engines, GpuConfig(pool="other"), [fake_gpu(0)]) == {"b": ["0"]}


# --- resolution against devices -------------------------------------------------------


def test_indices_and_uuids_name_whole_gpus() -> None:
    devices = [fake_gpu(0), fake_gpu(1), fake_gpu(2)]
    plan = place(engines(("a", [0, 1]), ("b", ["GPU-fake-0002"]), ("c", [])), GPU, devices)
    assert plan == {"a": ["0", "1"], "b": ["2"]}


def test_mig_uuid_and_profiles_fill_distinct_instances() -> None:
    declared = engines(("p1", ["1g.10gb"]), ("named", ["MIG-fake-0100"]), ("big", ["1:2g.20gb"]))
    plan = place(declared, GPU, mig_node())
    # p1 comes first, but exact names are resolved first: p1 takes the instance left
    assert plan == {"p1": ["MIG-fake-0101"], "named": ["MIG-fake-0100"], "big": ["MIG-fake-0102"]}


def test_a_profile_exhausted_names_engine_profile_and_free_instances() -> None:
    declared = engines(("a", ["1g.10gb"]), ("b", ["1g.10gb"]), ("c", ["1:1g.10gb"]))
    with pytest.raises(ConfigError) as caught:
        place(declared, GPU, mig_node())
    assert str(caught.value) == (
        "engines.c.gpus: no free MIG 1g.10gb instance on GPU 1; "
        "free instances: MIG-fake-0102 (GPU 1 MIG 2g.20gb)"
    )


def test_a_whole_gpu_in_mig_mode_cannot_be_placed() -> None:
    with pytest.raises(ConfigError, match="GPU 1 is split into MIG instances; name one"):
        place(engines(("a", [1])), GPU, mig_node())


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        (7, "engines.a.gpus: no GPU 7 here (GPUs: 0, 1)"),
        ("GPU-nope", "engines.a.gpus: no GPU GPU-nope here"),
        ("MIG-nope", "engines.a.gpus: no MIG instance MIG-nope here"),
        ("0:1g.10gb", "no free MIG 1g.10gb instance on GPU 0"),
        ("3g.40gb", "no free MIG 3g.40gb instance; free instances: MIG-fake-0100"),
    ],
)
def test_unknown_devices_are_one_clear_line(ref: int | str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        place(engines(("a", [ref])), GPU, mig_node())
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_two_engines_on_one_device_name_both() -> None:
    with pytest.raises(ConfigError) as caught:  # the same GPU, by index and by UUID
        place(engines(("a", [0]), ("b", ["GPU-fake-0000"])), GPU, [fake_gpu(0)])
    assert str(caught.value) == "engines.b.gpus and engines.a.gpus both place on GPU 0 (0)"


def test_a_whole_gpu_and_a_mig_instance_on_it_name_both() -> None:
    # NVML would call GPU 1 MIG-enabled; a device list that does not still never shares it
    devices = [fake_gpu(1), fake_mig(1, 0)]
    with pytest.raises(ConfigError) as caught:
        place(engines(("a", [1]), ("b", ["MIG-fake-0100"])), GPU, devices)
    assert str(caught.value) == (
        "engines.a.gpus takes all of GPU 1, and engines.b.gpus a MIG instance on it"
    )


def test_without_devices_indices_pass_through_and_the_rest_needs_nvml() -> None:
    assert place(engines(("a", [0, 3])), GPU, []) == {"a": ["0", "3"]}
    with pytest.raises(ConfigError, match="placing 1g.10gb needs the node's GPUs"):
        place(engines(("a", ["1g.10gb"])), GPU, [])
    with pytest.raises(ConfigError, match="placing GPU-x needs the node's GPUs"):
        place(engines(("a", ["GPU-x"])), GPU, [])


def test_format_plan_gives_cuda_visible_devices() -> None:
    devices = mig_node()
    plan = place(engines(("a", [0]), ("b", ["1g.10gb"])), GPU, devices)
    assert format_plan(plan, devices) == [
        "a: CUDA_VISIBLE_DEVICES=0  GPU 0 Fake H100 80GB (80 GiB)",
        "b: CUDA_VISIBLE_DEVICES=MIG-fake-0100  GPU 1 MIG 1g.10gb (10 GiB)",
    ]
    assert format_plan({"a": ["0"]}, []) == ["a: CUDA_VISIBLE_DEVICES=0  GPU 0 (unchecked)"]


# --- launch: placed devices become CUDA_VISIBLE_DEVICES --------------------------------


def test_launch_uses_placed_devices_and_keeps_index_refs_without_them(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, ("a", [0, 1]), ("b", ["1g.10gb"]))
    a, b = settings.engines
    assert launch(a, settings.provider("a"), "m").env["CUDA_VISIBLE_DEVICES"] == "0,1"
    placed = launch(b, settings.provider("b"), "m", ["MIG-fake-0100"])
    assert placed.env["CUDA_VISIBLE_DEVICES"] == "MIG-fake-0100"
    with pytest.raises(ConfigError, match="MIG profile 1g.10gb needs placement"):
        launch(b, settings.provider("b"), "m")


# --- the real NVML: absent here; its MIG names ----------------------------------------


def test_real_nvml_is_unavailable_without_a_driver_and_reads_gpus_with_one() -> None:
    try:
        nvml = RealNvml([79])
    except NvmlUnavailable as exc:
        assert str(exc)  # NVML Shared Library Not Found / Driver Not Loaded
        return
    try:  # a machine with a GPU driver: every GPU is read, with its memory
        devices = nvml.devices()
    finally:
        nvml.close()
    assert devices and all(d.error or d.memory_total_bytes > 0 for d in devices)


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "1g.10gb"),
        ("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "3g.20gb"),
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me", "1g.10gb+me"),
        ("NVIDIA H100 80GB HBM3", None),
        ("", None),
    ],
)
def test_mig_profile_from_the_device_name(name: str, profile: str | None) -> None:
    assert mig_profile(name) == profile
