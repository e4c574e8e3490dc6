"""Crafted GGUF files for the parser and weights tests (a writer for the format's subset)."""

from __future__ import annotations

import struct

STRING, ARRAY = 8, 9
FORMATS = {"u8": (0, "<B"), "u32": (4, "<I"), "i32": (5, "<i"), "f32": (6, "<f"),
           "bool": (7, "<B"), "u64": (10, "<Q")}  # fmt: skip


def string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_str(key: str, value: str | bytes) -> bytes:
    return string(key) + struct.pack("<I", STRING) + string(value)


def kv(key: str, kind: str, value: float) -> bytes:
    code, fmt = FORMATS[kind]
    return string(key) + struct.pack("<I", code) + struct.pack(fmt, value)


def kv_strings(key: str, items: list[str]) -> bytes:
    body = b"".join(string(item) for item in items)
    return string(key) + struct.pack("<IIQ", ARRAY, STRING, len(items)) + body


def kv_ints(key: str, items: list[int]) -> bytes:
    body = b"".join(struct.pack("<i", item) for item in items)
    return string(key) + struct.pack("<IIQ", ARRAY, 5, len(items)) + body


def tensor(name: str, dims: tuple[int, ...], offset: int, kind: int = 0) -> bytes:
    shape = b"".join(struct.pack("<Q", d) for d in dims)
    return string(name) + struct.pack("<I", len(dims)) + shape + struct.pack("<IQ", kind, offset)


def model_kvs(name: str = "Tiny Test Model", arch: str = "llama") -> list[bytes]:
    return [
        kv_str("general.architecture", arch),
        kv_str("general.name", name),
        kv("general.alignment", "u32", 32),
        kv(f"{arch}.context_length", "u32", 2048),
        kv("tokenizer.ggml.add_bos_token", "bool", 1),
        kv(f"{arch}.rope.freq_base", "f32", 10000.0),
        kv_strings("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", "wörld"]),
        kv_ints("tokenizer.ggml.token_type", [3, 3, 1, 1]),
    ]


def gguf(
    kvs: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    data: bytes = b"\x00" * 64,
    *,
    version: int = 3,
    kv_count: int | None = None,
    tensor_count: int | None = None,
) -> bytes:
    """Header, metadata, tensor table, padding to 32 bytes, then the tensor data."""
    kvs = model_kvs() if kvs is None else kvs
    tensors = [tensor("w", (4, 4), 0), tensor("b", (4,), 32)] if tensors is None else tensors
    head = b"GGUF" + struct.pack("<IQQ", version,
                                 len(tensors) if tensor_count is None else tensor_count,
                                 len(kvs) if kv_count is None else kv_count)  # fmt: skip
    body = head + b"".join(kvs) + b"".join(tensors)
    return body + b"\x00" * (-len(body) % 32) + data
