"""This process's Worker Deployment Version: the deployment's name and a build id derived
from the code, and making a version current when the settings say so."""

from __future__ import annotations

import functools
import hashlib
import logging
from importlib import metadata
from pathlib import Path

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

import naestro
import workflows
from naestro import deployments
from naestro.config.settings import DeployConfig, Settings
from workflows.versions import GENERATION

log = logging.getLogger(__name__)
# The code a workflow task runs: the workflows, the activity stubs they reference and the
# core they import. A change anywhere here is a new build id.
_CODE = (Path(workflows.__file__).parent, Path(naestro.__file__).parent)
REGISTER_SECONDS = 30.0  # a new version is listed once its first poll reaches the server


def package_version() -> str:
    try:
        return metadata.version("naestro")
    except metadata.PackageNotFoundError:
        return "0"


def code_digest(roots: tuple[Path, ...] = _CODE) -> str:
    """sha256 over the Python sources under ``roots`` (paths and bytes, sorted): the same
    code gives the same digest on every machine, in a checkout or an image."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@functools.cache
def default_build_id() -> str:
    """Computed once per process (the code does not change under a running worker)."""
    return f"{package_version()}-g{GENERATION}-{code_digest()}"


def version_of(config: DeployConfig) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(config.name, config.build_id or default_build_id())


def deployment_config(config: DeployConfig) -> WorkerDeploymentConfig:
    """The orchestrator worker's version. Every workflow type declares its own behaviour
    (pinned or auto-upgrade) in its @workflow.defn; the server takes a behaviour only from a
    versioned worker, so workers that run workflows are always versioned."""
    return WorkerDeploymentConfig(version=version_of(config), use_worker_versioning=True)


async def settle_current(client: Client, config: DeployConfig) -> None:
    """Make this process's version current when ``make_current`` says so: ``always``, or
    ``if-none`` while the deployment has no current version (its first deploy)."""
    if config.make_current == "never":
        return
    version = version_of(config)
    state = await deployments.wait_registered(client, version, REGISTER_SECONDS)
    if state.current == version.build_id:
        return
    if config.make_current == "if-none" and state.current is not None:
        log.info(
            "version %s is registered; %s stays current until `naestro rollout` moves it",
            version.build_id,
            state.current,
        )
        return
    await deployments.set_current(client, version)
    log.info("version %s of %s is current", version.build_id, version.deployment_name)


def one_machine(settings: Settings) -> Settings:
    """Settings for a stack whose workers are the only ones (demo, harness): their version
    becomes current at once, whatever an earlier run left current on the same server."""
    deploy = settings.deploy.model_copy(update={"make_current": "always"})
    return settings.model_copy(update={"deploy": deploy})
