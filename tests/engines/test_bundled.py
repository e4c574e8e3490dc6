"""The real bundled weights (the model-small group that bootstrap.sh installs)."""

from __future__ import annotations

from pathlib import Path

from naestro.gguf import read_gguf
from workers.engines.weights import MODELS, bundled_model


def test_the_bundled_smollm2_is_found_verified_and_parsed(tmp_path: Path) -> None:
    # Not skipped when the group is missing: bootstrap.sh installs it, and the error names
    # the command that does.
    events: list[str] = []
    path = bundled_model("smollm2-135m", tmp_path, lambda what, done, total: events.append(what))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and "site-packages" in path.parts
    assert set(events) == {"verifying smollm2-135m"}
    info = read_gguf(path)
    assert (info.architecture, info.name, info.context_length) == (
        "llama", MODELS["smollm2-135m"].gguf_name, 8192)  # fmt: skip
    assert info.metadata["tokenizer.chat_template"]
    assert bundled_model("smollm2-135m", tmp_path) == path  # the marker spares a second hash
