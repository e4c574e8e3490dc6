"""temporal.yaml loading: the shipped example, overrides, and errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from naestro.config.settings import load_settings
from naestro.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_example_loads_and_derives_queues() -> None:
    settings = load_settings(ROOT / "temporal.yaml", environ={})
    vllm = settings.provider("vllm_local")
    assert vllm.where == "local" and vllm.queue == "naestro.models.vllm_local"
    assert vllm.protocol == "openai"
    openai = settings.provider("openai")
    assert openai.where == "cloud" and openai.queue == "naestro.models.cloud"
    assert settings.provider("anthropic").protocol == "anthropic"
    assert settings.provider("gemini").protocol == "google"
    assert settings.provider("grok").protocol == "openai"
    assert settings.policies["default"].min_improvement == 0.25


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "temporal.yaml"
    f.write_text(text)
    return f


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    f = _write(tmp_path, "sandbox:\n  backnd: bwrap\n")
    with pytest.raises(ConfigError) as info:
        load_settings(f, environ={})
    assert "sandbox.backnd" in str(info.value) and str(f) in str(info.value)


def test_bad_value_names_key(tmp_path: Path) -> None:
    f = _write(tmp_path, "budget:\n  max_usd: -1\n")
    with pytest.raises(ConfigError, match=r"budget\.max_usd"):
        load_settings(f, environ={})


def test_secret_in_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    f = _write(tmp_path, "providers:\n- {id: o, engine: openai, model: m, api_key: sk-x}\n")
    with pytest.raises(ConfigError, match="api_key_env"):
        load_settings(f, environ={})


def test_policy_naming_unknown_provider(tmp_path: Path) -> None:
    f = _write(tmp_path, "policies:\n  p:\n    roles: {judge: [ghost]}\n")
    with pytest.raises(ConfigError, match="ghost"):
        load_settings(f, environ={})


def test_environment_overrides(tmp_path: Path) -> None:
    f = _write(tmp_path, "sandbox:\n  backend: auto\n")
    settings = load_settings(
        f, environ={"NAESTRO__SANDBOX__BACKEND": "bwrap", "NAESTRO__BUDGET__MAX_USD": "0.5"}
    )
    assert settings.sandbox.backend == "bwrap"
    assert settings.budget.max_usd == 0.5


def test_bad_override_names_the_key(tmp_path: Path) -> None:
    f = _write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"sandbox\.backend"):
        load_settings(f, environ={"NAESTRO__SANDBOX__BACKEND": "vm"})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_malformed_yaml(tmp_path: Path) -> None:
    f = _write(tmp_path, "providers: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(f, environ={})
