"""Sandboxes that run LLM-generated code's tests, and the activity that drives them."""

from __future__ import annotations

from activities.sandbox.activity import SandboxActivities
from activities.sandbox.base import Sandbox
from activities.sandbox.bwrap import DEFAULT_PYTHON, INSTALL_HINT, BwrapSandbox
from naestro.errors import SandboxError
from naestro.settings import SandboxConfig

__all__ = ["BwrapSandbox", "Sandbox", "SandboxActivities", "make_sandbox"]


def make_sandbox(config: SandboxConfig, *, python: str = DEFAULT_PYTHON) -> Sandbox:
    """The sandbox temporal.yaml asks for; SandboxError says what to install when missing."""
    if config.backend == "docker":
        raise SandboxError(
            "the docker sandbox backend is not available yet: use backend 'bwrap' or 'auto' "
            f"({INSTALL_HINT})"
        )
    # "auto" has a single candidate until Docker lands; BwrapSandbox checks that bwrap exists.
    return BwrapSandbox(user=config.user, python=python)
