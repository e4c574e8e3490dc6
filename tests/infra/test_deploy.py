"""The production deployment (infra/compose, infra/k8s, infra/docker): every compose profile
validates and holds its services; the Kubernetes overlays render and validate against the
Kubernetes API's own schemas; engines get GPUs and feed their GPU-affine queues; no secret is
written into a file or an image; nothing downloads at run time; Naestro's image builds and
runs. The tools come from scripts/install-deploy-tools.sh (docker-compose, kustomize,
kubeconform and the schemas) and scripts/sandbox-setup.sh (Docker): a missing one fails here
with the script to run, it is never skipped. No traffic leaves this machine but the image
build's package downloads."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from naestro.codec import KEYS_ENV
from tests.infra.deploy import (
    COMPOSE,
    DEPLOY_CONFIG,
    DOWNLOADERS,
    FAKE_SECRETS,
    IMAGE,
    INSTALL,
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    PROFILES,
    ROOT,
    SCHEMAS,
    SECRET_NAME,
    SECRET_VALUE,
    deploy_settings,
    docker,
    extra_ca,
    metrics_body,
    objects,
    pod_specs,
    rendered,
    run,
    services,
    tool,
)
from tests.support import free_port
from workers.main import select_queues


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_compose_profile_validates_with_its_services(profile: str) -> None:
    assert set(services(profile)) == PROFILES[profile]


def test_compose_names_the_missing_codec_keys_and_a_gpu_host_needs_no_other_secret() -> None:
    def config(env: dict[str, str], profile: str) -> subprocess.CompletedProcess[str]:
        argv = [tool("docker-compose"), "-f", str(COMPOSE), "--profile", profile, "config"]
        return run(argv, env={"PATH": os.environ["PATH"], **env})

    missing = config({k: v for k, v in FAKE_SECRETS.items() if k != "NAESTRO_CODEC_KEYS"}, "core")
    assert missing.returncode != 0 and "NAESTRO_CODEC_KEYS" in missing.stderr
    gpu_host = config({"NAESTRO_CODEC_KEYS": FAKE_SECRETS["NAESTRO_CODEC_KEYS"]}, "inference")
    assert gpu_host.returncode == 0, gpu_host.stderr
    # Grafana would fall back to admin/admin: its entrypoint refuses an empty password.
    grafana = services("monitoring")["grafana"]
    assert "GF_SECURITY_ADMIN_PASSWORD" in " ".join(grafana["entrypoint"])


def test_naestro_services_run_the_image_built_from_the_repo() -> None:
    naestro = {n: s for p in PROFILES for n, s in services(p).items() if "build" in s}
    assert naestro, "no service builds Naestro's image"
    for name, service in naestro.items():
        assert service["build"]["dockerfile"] == "infra/docker/Dockerfile", name
        assert Path(service["build"]["context"]) == ROOT, name
        assert service["command"][0] in {"api", "worker", "db"}, name


def test_compose_workers_poll_queues_the_deploy_config_declares() -> None:
    declared = {plan.queue for plan in select_queues(deploy_settings(), [])}
    polled = {
        s["command"][2]
        for p in PROFILES
        for s in services(p).values()
        if s.get("command", [None])[0] == "worker"
    }
    assert polled == declared


def test_compose_engines_reserve_their_own_gpus_and_have_a_worker() -> None:
    inference = services("inference")
    taken: set[str] = set()
    for provider in deploy_settings().providers:
        if provider.where != "local":
            continue
        host = re.match(r"http://([^:/]+):8000/v1$", provider.endpoint or "")
        assert host, f"{provider.id}: endpoint {provider.endpoint} is no compose service"
        engine = inference[host.group(1)]
        (device,) = engine["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert device["device_ids"] and not taken & set(device["device_ids"]), provider.id
        taken |= set(device["device_ids"])
        worker = inference[f"{host.group(1)}-worker"]
        assert worker["command"] == ["worker", "-q", f"naestro.models.{provider.id}"]
        assert "healthcheck" in engine


def test_compose_starts_nothing_that_downloads() -> None:
    for profile in PROFILES:
        for name, service in services(profile).items():
            argv = [*service.get("entrypoint", []), *service.get("command", [])]
            assert not DOWNLOADERS.search(" ".join(map(str, argv))), name
            env = service.get("environment", {})
            if service["image"].startswith("vllm/"):
                assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
            if service["image"].startswith("nvcr.io/nim/"):
                assert "NGC_API_KEY" not in env and "HF_TOKEN" not in env
            if name == "grafana":
                assert "GF_INSTALL_PLUGINS" not in env
                assert env["GF_ANALYTICS_REPORTING_ENABLED"] == "false"


def test_compose_file_holds_no_secret_value() -> None:
    """Each secret-like variable is interpolated from the environment or passed through."""
    raw = yaml.safe_load(COMPOSE.read_text())
    blocks = [v for k, v in raw.items() if k.startswith("x-") and k.endswith("-env")]
    blocks += [s.get("environment", {}) for s in raw["services"].values()]
    checked = 0
    for block in blocks:
        for var, value in block.items():
            if SECRET_NAME.search(var) and var != "<<":
                checked += 1
                assert value is None or "${" in str(value), f"{var}: {value!r}"
    assert checked >= 10


def test_otel_collector_config_is_the_same_for_compose_and_kubernetes() -> None:
    compose = (ROOT / "infra" / "compose" / "otel-collector.yaml").read_text()
    k8s = (K8S / "components" / "monitoring" / "otel-collector.yaml").read_text()
    assert compose == k8s


# ---------------------------------------------------------------------- kubernetes ---------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_manifests_validate_against_the_api_schemas(overlay: str) -> None:
    if not (SCHEMAS / "deployment-apps-v1.json").exists():
        pytest.fail(f"no Kubernetes schemas in {SCHEMAS}: {INSTALL}")
    location = f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"
    done = subprocess.run(
        [
            tool("kubeconform"),
            "-strict",
            "-summary",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-schema-location",
            location,
            "-",
        ],
        input=rendered(overlay),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(objects(overlay))
    assert f"Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout


def test_the_validator_refuses_a_misspelt_field() -> None:
    """The schemas are strict: an unknown key fails (so the passes above mean something)."""
    broken = rendered("base").replace("readinessProbe:", "readinesProbe:", 1)
    location = f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"
    done = subprocess.run(
        [tool("kubeconform"), "-strict", "-schema-location", location, "-"],
        input=broken,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "readinesProbe" in done.stdout


def test_engine_pods_request_gpus_on_gpu_nodes_beside_their_worker() -> None:
    engines = {}
    for name, spec in pod_specs("overlays/selfhosted"):
        gpus = [c for c in spec["containers"] if "nvidia.com/gpu" in c["resources"]["limits"]]
        if gpus:
            engines[name.split("/")[1]] = spec
            assert spec["nodeSelector"]["nvidia.com/gpu.present"] == "true", name
            assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"]), name
            (engine,) = gpus
            assert engine["resources"]["requests"]["nvidia.com/gpu"] >= 1
            worker = next(c for c in spec["containers"] if c["name"] == "naestro")
            assert "nvidia.com/gpu" not in worker["resources"]["limits"]
            assert worker["args"][:2] == ["worker", "-q"]
    local = {p.id: p for p in deploy_settings().providers if p.where == "local"}
    assert {n.replace("-", "_") for n in engines} == set(local)
    for pid, spec in ((n.replace("-", "_"), s) for n, s in engines.items()):
        worker = next(c for c in spec["containers"] if c["name"] == "naestro")
        assert worker["args"][2] == f"naestro.models.{pid}"


def test_kubernetes_workers_poll_queues_the_deploy_config_declares() -> None:
    declared = {plan.queue for plan in select_queues(deploy_settings(), [])}
    polled = {
        c["args"][2]
        for _, spec in pod_specs("overlays/selfhosted")
        for c in spec["containers"]
        if c.get("args", [None])[0] == "worker"
    }
    assert polled == declared


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_probes_and_limits(overlay: str) -> None:
    for name, spec in pod_specs(overlay):
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            if not name.startswith("Job/"):
                assert "readinessProbe" in container and "livenessProbe" in container, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_only_from_secret_objects(overlay: str) -> None:
    kinds = {obj["kind"] for obj in objects(overlay)}
    assert "Secret" not in kinds
    for name, spec in pod_specs(overlay):
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            for var in container.get("env", []):
                if SECRET_NAME.search(var["name"]):
                    assert "secretKeyRef" in var.get("valueFrom", {}), f"{name}: {var['name']}"
    for obj in objects(overlay):
        if obj["kind"] == "ConfigMap":  # e.g. naestro-env: variables, none of them secret
            assert not [k for k in obj.get("data", {}) if SECRET_NAME.search(k)], obj
    assert not SECRET_VALUE.search(rendered(overlay))


def test_deploy_config_is_valid_and_names_no_secret() -> None:
    settings = deploy_settings()
    assert settings.engines == []  # engines are their own containers and pods
    assert not SECRET_VALUE.search(DEPLOY_CONFIG.read_text())
    assert not SECRET_VALUE.search(COMPOSE.read_text())


def test_nothing_on_kubernetes_downloads_at_run_time() -> None:
    for name, spec in pod_specs("overlays/selfhosted"):
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            argv = " ".join([*container.get("command", []), *container.get("args", [])])
            assert not DOWNLOADERS.search(argv), name
            env = {v["name"]: v.get("value") for v in container.get("env", [])}
            if container["image"].startswith("vllm/"):
                assert env["HF_HUB_OFFLINE"] == "1", name
            assert "NGC_API_KEY" not in env and "GF_INSTALL_PLUGINS" not in env, name


# -------------------------------------------------------------------------- image ----------
@pytest.fixture(scope="module")
def image() -> str:
    """Naestro's image, built from the repository on a locally debootstrapped Python base
    (no registry here); Docker's layer cache makes a rebuild of unchanged inputs quick."""
    binary = docker()
    base = run([str(ROOT / "infra" / "docker" / "build-base.sh")], timeout=900)
    assert base.returncode == 0, base.stderr
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    args = [
        "--build-arg",
        f"BASE={base.stdout.strip()}",
        "--build-arg",
        f"EXTRA_CA_PEM={extra_ca()}",
    ]
    build = run(
        [binary, *"build -q -f infra/docker/Dockerfile -t".split(), IMAGE, *args, "."],
        env=env,
        timeout=1500,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return IMAGE


# Each image test may be the one that builds it: a cold build downloads and installs the
# locked dependencies (minutes).
BUILD_TIMEOUT = pytest.mark.timeout(1800)


@BUILD_TIMEOUT
def test_the_image_builds_from_the_repo_and_runs_naestro_help(image: str) -> None:
    done = run([docker(), "run", "--rm", "--network", "none", image, "--help"])
    assert done.returncode == 0, done.stderr
    assert "worker" in done.stdout and "api" in done.stdout


@BUILD_TIMEOUT
def test_the_image_runs_unprivileged_with_the_deploy_config_and_no_secret(image: str) -> None:
    probe = (
        "import os; from naestro.config.settings import load_settings; "
        "print(os.getuid(), load_settings().source)"
    )
    inside = run(
        [docker(), *"run --rm --network none --entrypoint python3".split(), image, "-c", probe]
    )
    assert inside.stdout.split() == ["10001", "/etc/naestro/naestro.yaml"], inside.stderr
    history = run([docker(), "history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
    assert history.returncode == 0 and "CERTIFICATE" not in history.stdout
    config = run([docker(), "image", "inspect", "--format", "{{json .Config.Env}}", image])
    assert not SECRET_NAME.search(config.stdout.replace("NAESTRO_CONFIG", "")), config.stdout


@BUILD_TIMEOUT
async def test_a_worker_in_the_image_polls_and_serves_metrics(
    image: str, env: WorkflowEnvironment
) -> None:
    """`naestro worker` from the image against the session's Temporal dev server, all on
    loopback (host network): it polls, serves /metrics, and stops cleanly on SIGTERM."""
    port = free_port()
    name = f"naestro-deploy-test-{uuid.uuid4().hex[:8]}"
    argv = [
        docker(), "run", "-d", "--name", name, "--network", "host",
        "-e", f"TEMPORAL_ADDRESS={env.client.service_client.config.target_host}",
        "-e", f"NAESTRO_CODEC_KEYS={os.environ[KEYS_ENV]}",
        "-e", f"NAESTRO__TELEMETRY__METRICS_ADDRESS=127.0.0.1:{port}",
        image, "worker", "-q", "naestro.orchestrator",
    ]  # fmt: skip
    started = await asyncio.to_thread(run, argv)
    assert started.returncode == 0, started.stderr
    try:
        body = await metrics_body(f"http://127.0.0.1:{port}/metrics", deadline=90)
        assert "temporal_" in body or "naestro_" in body
        stopped = await asyncio.to_thread(run, [docker(), "stop", "-t", "60", name], timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        state = await asyncio.to_thread(
            run, [docker(), "inspect", "--format", "{{.State.ExitCode}}", name]
        )
        logs = await asyncio.to_thread(run, [docker(), "logs", name])
        assert state.stdout.strip() == "0", logs.stdout + logs.stderr
        assert "worker polling: naestro.orchestrator" in logs.stdout
    finally:
        await asyncio.to_thread(run, [docker(), "rm", "-f", name])
