"""Read a GGUF file's header, metadata and tensor table, treating the file as untrusted.

GGUF (llama.cpp's model format, little-endian): ``GGUF`` magic, a uint32 version, uint64
tensor and metadata counts, the metadata key/value pairs, then one record per tensor
(name, dims, type, offset into the data section). Model weights we did not produce come
through here before an engine loads them, so every count, length and offset is bounded and
checked against the file's size before anything is allocated, and anything malformed raises
:class:`GgufError` naming what and where. Arrays (the tokenizer's vocabulary) are walked
but kept as a type and a length only.

Side-effect free apart from reading the file it is given.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from naestro.errors import GgufError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = frozenset({2, 3})
# Bounds far above any real model (Qwen2.5: ~30 keys, 151,936 tokens, 338 tensors; chat
# templates are a few KiB) and far below what would exhaust memory.
MAX_KV_COUNT = 4096
MAX_TENSOR_COUNT = 1 << 20
MAX_KEY_BYTES = 65_535
MAX_STRING_BYTES = 1 << 20
MAX_ARRAY_ITEMS = 1 << 24
MAX_DIMS = 4
DEFAULT_ALIGNMENT = 32

# value type -> (name, struct format) for fixed-size scalars
_SCALARS: dict[int, tuple[str, str]] = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<B"),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GgufArray:
    """An array value, summarised: its item type and length (values are not kept)."""

    item_type: str
    length: int


Value = int | float | bool | str | GgufArray


@dataclass(frozen=True)
class GgufInfo:
    version: int
    tensor_count: int
    file_size: int
    metadata: Mapping[str, Value] = field(repr=False)

    def string(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    @property
    def architecture(self) -> str | None:
        return self.string("general.architecture")

    @property
    def name(self) -> str | None:
        return self.string("general.name")

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Reader:
    """Bounded little-endian reads; every read past the end is a clear error."""

    def __init__(self, stream: BinaryIO, size: int, origin: str) -> None:
        self.stream, self.size, self.origin = stream, size, origin
        self.pos = 0

    def fail(self, what: str) -> GgufError:
        return GgufError(f"{self.origin}: {what} (at byte {self.pos})")

    def take(self, n: int, what: str) -> bytes:
        if n > self.size - self.pos:
            raise self.fail(f"truncated: {what} needs {n} bytes, {self.size - self.pos} left")
        data = self.stream.read(n)
        if len(data) != n:
            raise self.fail(f"truncated: {what} (file shorter than it said)")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise self.fail(f"truncated: {what} needs {n} bytes, {self.size - self.pos} left")
        self.stream.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> int | float:
        value: int | float = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]
        return value

    def u32(self, what: str) -> int:
        return int(self.unpack("<I", what))

    def u64(self, what: str) -> int:
        return int(self.unpack("<Q", what))

    def count(self, what: str, limit: int) -> int:
        n = self.u64(what)
        if n > limit:
            raise self.fail(f"{what} {n} is over the limit of {limit}")
        return n

    def text(self, what: str, limit: int) -> str:
        raw = self.take(self.count(f"{what} length", limit), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None


def _value(r: _Reader, kind: int, key: str) -> Value:
    if kind in _SCALARS:
        name, fmt = _SCALARS[kind]
        value = r.unpack(fmt, f"value of {key!r}")
        return bool(value) if name == "bool" else value
    if kind == _STRING:
        return r.text(f"value of {key!r}", MAX_STRING_BYTES)
    if kind == _ARRAY:
        return _array(r, key)
    raise r.fail(f"unknown value type {kind} for {key!r}")


def _array(r: _Reader, key: str) -> GgufArray:
    item = r.u32(f"item type of {key!r}")
    length = r.count(f"length of {key!r}", MAX_ARRAY_ITEMS)
    if item in _SCALARS:
        name, fmt = _SCALARS[item]
        r.skip(length * struct.calcsize(fmt), f"items of {key!r}")
        return GgufArray(name, length)
    if item == _STRING:
        for _ in range(length):
            r.skip(r.count(f"item length in {key!r}", MAX_STRING_BYTES), f"item of {key!r}")
        return GgufArray("string", length)
    # llama.cpp does not read nested arrays either.
    raise r.fail(f"unsupported item type {item} in array {key!r}")


def _metadata(r: _Reader, count: int) -> dict[str, Value]:
    metadata: dict[str, Value] = {}
    for index in range(count):
        key = r.text(f"key #{index}", MAX_KEY_BYTES)
        if key in metadata:
            raise r.fail(f"duplicate key {key!r}")
        metadata[key] = _value(r, r.u32(f"type of {key!r}"), key)
    return metadata


def _tensor_offsets(r: _Reader, count: int) -> int:
    """Walk the tensor table; return the largest data offset it names."""
    largest = 0
    for index in range(count):
        name = r.text(f"name of tensor #{index}", MAX_KEY_BYTES)
        dims = r.u32(f"dims of {name!r}")
        if not 1 <= dims <= MAX_DIMS:
            raise r.fail(f"tensor {name!r} has {dims} dimensions")
        r.skip(8 * dims + 4, f"shape and type of {name!r}")
        largest = max(largest, r.u64(f"offset of {name!r}"))
    return largest


def parse_gguf(stream: BinaryIO, size: int, origin: str = "GGUF") -> GgufInfo:
    """Parse from a seekable binary stream of ``size`` bytes positioned at its start."""
    r = _Reader(stream, size, origin)
    magic = r.take(4, "magic")
    if magic != MAGIC:
        raise r.fail(f"not a GGUF file (magic {magic!r})")
    version = r.u32("version")
    if version not in SUPPORTED_VERSIONS:
        raise r.fail(f"GGUF version {version} is not supported (only 2 and 3)")
    tensors = r.count("tensor count", MAX_TENSOR_COUNT)
    metadata = _metadata(r, r.count("metadata count", MAX_KV_COUNT))
    largest = _tensor_offsets(r, tensors)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")
    data_start = -(-r.pos // alignment) * alignment
    if tensors and data_start + largest >= size:
        raise r.fail(f"truncated: tensor data reaches past the end ({size} bytes)")
    return GgufInfo(version=version, tensor_count=tensors, file_size=size, metadata=metadata)


def read_gguf(path: Path) -> GgufInfo:
    """Parse the GGUF file at ``path``."""
    with path.open("rb", buffering=1 << 16) as stream:
        size = path.stat().st_size
        return parse_gguf(stream, size, origin=str(path))
