"""A worker's version: a build id derived from the code, a behaviour for every workflow type,
and the deploy settings' validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.common import VersioningBehavior
from temporalio.workflow import _Definition

from naestro.config.settings import DeployConfig
from naestro.errors import ConfigError
from tests.support import make_settings
from workers import versioning
from workers.orchestrator import WORKFLOWS
from workflows.versions import GENERATION


def test_every_workflow_type_declares_a_versioning_behaviour() -> None:
    behaviours = {
        _Definition.must_from_class(cls).name: _Definition.must_from_class(cls).versioning_behavior
        for cls in WORKFLOWS
    }
    unspecified = [n for n, b in behaviours.items() if b == VersioningBehavior.UNSPECIFIED]
    assert not unspecified, f"declare pinned or auto-upgrade for: {unspecified}"
    assert behaviours["naestro.task"] == VersioningBehavior.PINNED  # never new code mid-task


def test_build_id_follows_the_code(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("X = 1\n")
    before = versioning.code_digest((package,))
    assert versioning.code_digest((package,)) == before  # the same code, the same id
    (package / "a.py").write_text("X = 2\n")
    assert versioning.code_digest((package,)) != before
    build = versioning.default_build_id()
    assert f"-g{GENERATION}-" in build and "." not in build.split("-g")[1]


def test_configured_build_id_wins() -> None:
    chosen = versioning.version_of(DeployConfig(name="prod", build_id="2026.12.02-abc"))
    assert (chosen.deployment_name, chosen.build_id) == ("prod", "2026.12.02-abc")
    config = versioning.deployment_config(DeployConfig(name="prod", build_id="b7"))
    assert config.use_worker_versioning and config.version.build_id == "b7"


def test_deployment_names_cannot_hold_dots(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="deploy.name"):
        make_settings(tmp_path, [], deploy={"name": "naestro.prod"})
