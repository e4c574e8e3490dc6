"""The GGUF reader on crafted files: well-formed ones parse, anything malformed is refused."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest

from naestro.errors import GgufError
from naestro.gguf import (
    MAX_ARRAY_ITEMS,
    MAX_STRING_BYTES,
    GgufArray,
    GgufInfo,
    parse_gguf,
    read_gguf,
)
from tests.engines.ggufdata import (
    ARRAY,
    gguf,
    kv,
    kv_str,
    model_kvs,
    string,
    tensor,
)


def parse(data: bytes) -> GgufInfo:
    return parse_gguf(io.BytesIO(data), len(data), origin="test.gguf")


def test_a_well_formed_file_yields_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(gguf())
    info = read_gguf(path)
    assert (info.version, info.tensor_count, info.file_size) == (3, 2, path.stat().st_size)
    assert (info.architecture, info.name, info.context_length) == ("llama", "Tiny Test Model", 2048)
    assert info.metadata["tokenizer.ggml.add_bos_token"] is True
    assert info.metadata["llama.rope.freq_base"] == 10000.0
    assert info.metadata["tokenizer.ggml.tokens"] == GgufArray("string", 4)
    assert info.metadata["tokenizer.ggml.token_type"] == GgufArray("int32", 4)


def test_version_2_is_read_and_missing_keys_are_none() -> None:
    info = parse(gguf(kvs=[kv_str("general.architecture", "qwen2")], version=2))
    assert (info.version, info.architecture, info.name, info.context_length) == (
        2, "qwen2", None, None)  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML" + gguf()[4:], "not a GGUF file"),
        (gguf(version=1), "GGUF version 1 is not supported"),
        (gguf(version=4), "GGUF version 4 is not supported"),
        (b"", "truncated: magic"),
    ],
)
def test_wrong_magic_or_version_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(GgufError, match=message):
        parse(data)


def test_every_truncation_is_refused() -> None:
    data = gguf()
    for cut in range(len(data) - 64):  # the last 64 bytes are tensor data past the largest offset
        with pytest.raises(GgufError, match="test.gguf: "):
            parse(data[:cut])


def test_tensor_data_past_the_end_is_refused() -> None:
    data = gguf(tensors=[tensor("w", (4, 4), 4096)])
    with pytest.raises(GgufError, match="tensor data reaches past the end"):
        parse(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kv_count": 2**63}, "metadata count .* is over the limit"),
        ({"tensor_count": 2**40}, "tensor count .* is over the limit"),
        ({"kvs": [string("k") + struct.pack("<I", 8) + struct.pack("<Q", MAX_STRING_BYTES + 1)]},
         "value of 'k' length .* is over the limit"),
        ({"kvs": [string("k") + struct.pack("<IIQ", ARRAY, 4, MAX_ARRAY_ITEMS + 1)]},
         "length of 'k' .* is over the limit"),
        ({"kvs": [struct.pack("<Q", 2**64 - 1)]}, "key #0 length .* is over the limit"),
    ],
)  # fmt: skip
def test_oversized_counts_and_lengths_are_refused_before_allocating(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(GgufError, match=message):
        parse(gguf(**kwargs))


def test_a_length_that_fits_the_limit_but_not_the_file_is_truncation() -> None:
    data = gguf(kvs=[string("k") + struct.pack("<IQ", 8, 1000) + b"short"], tensors=[])
    with pytest.raises(GgufError, match="truncated: value of 'k' needs 1000 bytes"):
        parse(data)


@pytest.mark.parametrize(
    ("kvs", "message"),
    [
        ([string("k") + struct.pack("<I", 13) + b"\x00" * 8], "unknown value type 13 for 'k'"),
        ([string("k") + struct.pack("<IIQ", ARRAY, ARRAY, 1)], "unsupported item type 9"),
        ([kv_str("k", "a"), kv_str("k", "b")], "duplicate key 'k'"),
        ([string(b"\xff\xfe") + struct.pack("<I", 0) + b"\x00"], "key #0 is not UTF-8"),
        ([kv_str("general.name", b"\xc3\x28")], "value of 'general.name' is not UTF-8"),
        ([kv("general.alignment", "u32", 24)], "general.alignment 24 is not a power of two"),
        ([kv("general.alignment", "u32", 0)], "general.alignment 0 is not a power of two"),
    ],
)
def test_malformed_metadata_is_refused(kvs: list[bytes], message: str) -> None:
    with pytest.raises(GgufError, match=message):
        parse(gguf(kvs=kvs))


@pytest.mark.parametrize("dims", [(), (1, 1, 1, 1, 1)])
def test_tensors_with_impossible_shapes_are_refused(dims: tuple[int, ...]) -> None:
    with pytest.raises(GgufError, match="dimensions"):
        parse(gguf(tensors=[tensor("w", dims, 0)]))


def test_the_error_names_the_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(gguf(kvs=model_kvs() + [kv_str("general.name", "again")]))
    with pytest.raises(GgufError, match=rf"^{path}: duplicate key 'general.name' \(at byte \d+\)$"):
        read_gguf(path)
