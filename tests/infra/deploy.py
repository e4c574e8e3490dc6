"""What the deployment tests share (tests/infra/test_deploy.py): paths, the tools
(scripts/install-deploy-tools.sh, scripts/sandbox-setup.sh) and the renderings they make."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from naestro.config.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "compose" / "compose.yaml"
K8S = ROOT / "infra" / "k8s"
DEPLOY_CONFIG = K8S / "base" / "naestro.yaml"
BIN = ROOT / ".naestro" / "bin"
KUBERNETES_VERSION = "1.37.2"  # scripts/install-deploy-tools.sh
SCHEMAS = ROOT / ".naestro" / "k8s-schemas" / f"v{KUBERNETES_VERSION}"
INSTALL = "run scripts/install-deploy-tools.sh"
IMAGE = "naestro:deploy-test"

# Stand-ins for the required secrets, only for `docker-compose config` to interpolate.
FAKE_SECRETS = {
    "NAESTRO_CODEC_KEYS": "test:not-a-key",
    "NAESTRO_DB_PASSWORD": "test-db-password",
    "TEMPORAL_DB_PASSWORD": "test-temporal-password",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}
PROFILES = {
    "core": {
        "temporal-postgres",
        "temporal-schema",
        "temporal",
        "temporal-namespace",
        "temporal-ui",
        "naestro-postgres",
        "naestro-migrate",
        "api",
        "orchestrator-worker",
        "models-worker",
        "memory-worker",
        "sandbox-worker",
    },
    "inference": {
        "vllm-local",
        "vllm-deepseek",
        "vllm-slm",
        "nim-llama70b",
        "vllm-local-worker",
        "vllm-deepseek-worker",
        "vllm-slm-worker",
        "nim-llama70b-worker",
    },
    "monitoring": {"otel-collector", "jaeger", "prometheus", "grafana"},
}
OVERLAYS = ["base", "overlays/selfhosted", "overlays/production", "overlays/cpu"]
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|PWD|TOKEN|DATABASE_URL|WEBHOOK")
# What a key, a token or a password looks like written out: provider and Naestro API keys,
# private keys, credentials inside a URL.
SECRET_VALUE = re.compile(
    r"\bsk-[A-Za-z0-9]|\bnk_[a-z0-9]+_|BEGIN [A-Z ]*PRIVATE KEY"
    r"|://[^/\s:@]+:[^/\s@$]+@"  # user:password@ in a URL (not ${...} interpolation)
)
DOWNLOADERS = re.compile(r"\b(pip|uv|curl|wget|apt-get|apk|huggingface-cli|grafana-cli)\b")


def tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: {INSTALL}")
    return found


def run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
    )


@cache
def deploy_settings() -> Settings:
    return load_settings(DEPLOY_CONFIG, environ={})


# ------------------------------------------------------------------------- compose ---------
@cache
def compose_config(profile: str) -> dict[str, Any]:
    env = {"PATH": os.environ["PATH"], **FAKE_SECRETS}
    done = run(
        [tool("docker-compose"), "-f", str(COMPOSE), "--profile", profile, "config"], env=env
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def services(profile: str) -> dict[str, dict[str, Any]]:
    every: dict[str, dict[str, Any]] = compose_config(profile)["services"]
    return {name: s for name, s in every.items() if profile in s.get("profiles", [])}


@cache
def rendered(overlay: str) -> str:
    done = run([tool("kustomize"), "build", str(K8S / overlay)])
    assert done.returncode == 0, done.stderr
    return done.stdout


def objects(overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered(overlay)) if d]


def pod_specs(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects(overlay):
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def docker() -> str:
    path = shutil.which("docker")
    if path is None or run([path, "info"], timeout=30).returncode != 0:
        pytest.fail("no Docker engine answers: run scripts/sandbox-setup.sh")
    return path


def extra_ca() -> str:
    """The host's locally added CAs (a TLS-intercepting proxy's): the build trusts them."""
    local = Path("/usr/local/share/ca-certificates")
    return "".join(p.read_text() for p in sorted(local.glob("*.crt"))) if local.is_dir() else ""


async def metrics_body(url: str, deadline: float) -> str:
    """The endpoint's body once it answers (the worker imports, connects, then serves)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                answer = await http.get(url)
                if answer.status_code == 200:
                    return answer.text
            except httpx.TransportError:
                pass
            assert loop.time() < until, f"{url} did not answer within {deadline}s"
            await asyncio.sleep(0.5)
