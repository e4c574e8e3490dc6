"""Sandboxes that run LLM-generated code's tests, and the activity that drives them."""

from __future__ import annotations

import logging

from activities.sandbox.activity import SandboxActivities
from activities.sandbox.base import Sandbox
from activities.sandbox.bwrap import DEFAULT_PYTHON, BwrapSandbox
from activities.sandbox.workspace import Caps
from naestro.config.settings import SandboxConfig
from naestro.errors import SandboxError

__all__ = ["BwrapSandbox", "Sandbox", "SandboxActivities", "make_sandbox"]

log = logging.getLogger(__name__)


def _docker(config: SandboxConfig) -> Sandbox:
    # Imported here: workflows import this package (for SandboxActivities), and the docker
    # SDK has no business inside the workflow sandbox.
    from activities.sandbox.docker import DockerSandbox

    return DockerSandbox(
        config.image,
        pool_size=config.pool_size,
        limits=config.limits,
        base_url=config.docker_host,
        caps=caps(config),
    )


def caps(config: SandboxConfig) -> Caps:
    """The configured caps on an unpacked workspace."""
    return Caps(
        max_bytes=config.workspace_max_mb * 1024 * 1024, max_files=config.workspace_max_files
    )


def make_sandbox(config: SandboxConfig, *, python: str = DEFAULT_PYTHON) -> Sandbox:
    """The sandbox temporal.yaml asks for; SandboxError says what to install when missing.

    ``auto`` picks Docker when the engine answers and has the sandbox image, else bubblewrap.
    """
    if config.backend == "docker":
        return _docker(config)
    if config.backend == "auto":
        try:
            return _docker(config)
        except SandboxError as exc:
            log.info("docker sandbox unavailable (%s): using bubblewrap", exc)
    return BwrapSandbox(
        user=config.user, python=python, wheel_cache=config.wheel_cache, caps=caps(config)
    )
