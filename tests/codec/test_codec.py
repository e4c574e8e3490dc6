"""The AES-256-GCM payload codec: round trip, key rotation, tampering, bad keys."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from naestro.codec import (
    KEY_ID_META,
    CodecError,
    EncryptionCodec,
    codec_from_env,
    data_converter,
    generate_key,
    parse_keys,
    seal,
    unseal,
)
from naestro.contracts import TaskRequest
from naestro.errors import ConfigError

SECRET_PROMPT = "Summarise the file of jane.doe@example.com"


def _codec(*entries: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(",".join(entries)))


async def _encode(codec: EncryptionCodec, value: object) -> Payload:
    converter = data_converter(codec)
    (payload,) = await converter.encode([value])
    return payload


async def test_round_trip_hides_plaintext() -> None:
    codec = _codec(generate_key("k1"))
    payload = await _encode(codec, TaskRequest(prompt=SECRET_PROMPT))
    assert payload.metadata["encoding"] == b"binary/encrypted"
    assert payload.metadata[KEY_ID_META] == b"k1"
    assert b"jane.doe" not in payload.SerializeToString()
    (back,) = await data_converter(codec).decode([payload], [TaskRequest])
    assert back == TaskRequest(prompt=SECRET_PROMPT)


async def test_rotation_decrypts_old_and_encrypts_with_newest() -> None:
    old, new = generate_key("2025-01"), generate_key("2026-01")
    before = await _encode(_codec(old), TaskRequest(prompt=SECRET_PROMPT))
    rotated = _codec(new, old)  # the newest first
    (back,) = await data_converter(rotated).decode([before], [TaskRequest])
    assert back.prompt == SECRET_PROMPT
    after = await _encode(rotated, TaskRequest(prompt=SECRET_PROMPT))
    assert after.metadata[KEY_ID_META] == b"2026-01"
    with pytest.raises(CodecError, match="'2026-01'.*does not hold"):
        await _codec(old).decode([after])


async def test_tampered_or_relabelled_payload_is_refused() -> None:
    a, b = generate_key("a"), generate_key("b")
    codec = _codec(a, b)
    payload = await _encode(codec, "hello")
    flipped = Payload(
        metadata=payload.metadata, data=payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    )
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload(metadata={**payload.metadata, KEY_ID_META: b"b"}, data=payload.data)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([relabelled])


async def test_plain_payloads_pass_through_decode() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')
    assert await _codec(generate_key("k")).decode([plain]) == [plain]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nocolon", "expected <key id>:<base64 key>"),
        ("bad id!:AAAA", "expected <key id>"),
        ("k:not base64!", "not valid base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "5 bytes, AES-256 needs 32"),
        (" , ", "holds no key"),
    ],
)
def test_bad_key_configuration_is_named(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_keys(raw)


def test_duplicate_ids_and_env_loading() -> None:
    key = generate_key("same")
    with pytest.raises(ConfigError, match="duplicate key id"):
        parse_keys(f"{key},{key}")
    assert codec_from_env({}) is None
    codec = codec_from_env({"NAESTRO_CODEC_KEYS": f"{generate_key('n')},{generate_key('o')}"})
    assert codec is not None and codec.current_key_id == "n" and codec.key_ids == ["n", "o"]


def test_key_material_never_in_messages() -> None:
    key = generate_key("k")
    secret = key.split(":", 1)[1]
    (parsed,) = parse_keys(key)
    assert secret not in repr(parsed)
    with pytest.raises(ConfigError) as info:
        parse_keys(key[:-4] + "!!!!")
    assert secret[:-4] not in str(info.value)


def test_sealed_values_open_only_for_their_key_and_under_a_held_key() -> None:
    old, new = generate_key("old"), generate_key("new")
    sealed = seal(_codec(old), TaskRequest(prompt=SECRET_PROMPT), "row-1")
    assert b"jane.doe" not in sealed
    rotated = _codec(new, old)
    assert unseal(rotated, sealed, "row-1", TaskRequest).prompt == SECRET_PROMPT
    with pytest.raises(CodecError, match="another key"):
        unseal(rotated, sealed, "row-2", TaskRequest)
    with pytest.raises(CodecError, match="'old'"):
        unseal(_codec(new), sealed, "row-1", TaskRequest)
    with pytest.raises(CodecError, match="not sealed"):
        plain = Payload(metadata={"encoding": b"json/plain"}, data=b"{}").SerializeToString()
        unseal(rotated, plain, "row-1", TaskRequest)
    with pytest.raises(CodecError, match="authentication"):
        unseal(rotated, sealed[:-1] + bytes([sealed[-1] ^ 1]), "row-1", TaskRequest)
