"""External payload storage over the blob store: references in, ciphertext at rest, clear
failures when the database is missing."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import httpx
import pytest
import uvicorn
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import ExternalStorage
from temporalio.exceptions import ApplicationError

from api.codec import create_app
from naestro.codec import EncryptionCodec, data_converter, generate_key, parse_keys
from naestro.config.settings import PayloadsConfig
from naestro.contracts import TaskRequest
from naestro.errors import PayloadTooLarge
from naestro.payload_store import (
    DRIVER_NAME,
    MEDIA_TYPE,
    TEMPORAL_PAYLOAD_LIMIT,
    external_storage,
    is_reference,
)

TOKEN = "codec-test-token-0123456789"
SECRET = "jane.doe@example.com "  # repeated into a prompt far over the threshold


def _storage(url: str | None, threshold: int = 1024) -> ExternalStorage:
    environ = {"DATABASE_URL": url} if url else {}
    return external_storage(PayloadsConfig(external_threshold_bytes=threshold), environ)


async def _stored(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT sha256, media_type, data FROM blobs"))
    finally:
        await conn.close()


async def test_large_payload_is_stored_encrypted_and_read_back(
    db_url: str, codec: EncryptionCodec
) -> None:
    converter = data_converter(codec, _storage(db_url))
    request = TaskRequest(prompt=SECRET * 5000)  # ~100 KB
    (payload,) = await converter.encode([request])
    assert is_reference(payload)
    assert payload.ByteSize() < 1024  # history holds the reference only
    assert SECRET.encode() not in payload.SerializeToString()
    assert payload.external_payloads[0].size_bytes > 100_000
    assert DRIVER_NAME.encode() in payload.data

    [row] = await _stored(db_url)
    assert row["media_type"] == MEDIA_TYPE
    assert b"jane.doe" not in row["data"]  # encrypted before it was stored
    assert b"binary/encrypted" in row["data"]  # the codec's payload, serialized

    (back,) = await converter.decode([payload], [TaskRequest])
    assert back == request


async def test_small_payloads_stay_inline(db_url: str, codec: EncryptionCodec) -> None:
    converter = data_converter(codec, _storage(db_url, 256 * 1024))
    (payload,) = await converter.encode([TaskRequest(prompt="short")])
    assert not is_reference(payload)
    assert payload.metadata["encoding"] == b"binary/encrypted"
    assert await _stored(db_url) == []


async def test_without_a_database_payloads_stay_inline_up_to_temporals_limit() -> None:
    converter = data_converter(None, _storage(None))
    (inline,) = await converter.encode([TaskRequest(prompt="x" * 100_000)])
    assert not is_reference(inline)
    with pytest.raises(PayloadTooLarge, match=r"over Temporal's limit of 2097152.*DATABASE_URL"):
        await converter.encode([TaskRequest(prompt="x" * (TEMPORAL_PAYLOAD_LIMIT + 1))])


async def test_a_reference_without_its_database_fails_non_retryably(db_url: str) -> None:
    writer = data_converter(None, _storage(db_url))
    (payload,) = await writer.encode([TaskRequest(prompt="y" * 10_000)])
    reader = data_converter(None, _storage(None))
    with pytest.raises(ApplicationError, match="DATABASE_URL is unset") as unset:
        await reader.decode([payload], [TaskRequest])
    assert unset.value.non_retryable and unset.value.type == "PayloadMissing"

    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("DELETE FROM blobs")
    finally:
        await conn.close()
    with pytest.raises(ApplicationError, match="not in the blob store") as gone:
        await writer.decode([payload], [TaskRequest])
    assert gone.value.non_retryable and gone.value.type == "PayloadMissing"


async def test_the_codec_server_passes_references_through(db_url: str) -> None:
    """The Temporal UI sends a reference as it is in history: the codec server answers it
    unchanged (the UI shows the driver and sha256), and decrypts inline payloads as before."""
    keys = generate_key("ui")
    codec = EncryptionCodec(parse_keys(keys))
    converter = data_converter(codec, _storage(db_url))
    big, small = await converter.encode([TaskRequest(prompt="z" * 10_000), "call Ann"])
    assert is_reference(big) and not is_reference(small)
    app = create_app({"NAESTRO_CODEC_KEYS": keys, "NAESTRO_CODEC_TOKEN": TOKEN})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.create_server(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    body = json_format.MessageToDict(Payloads(payloads=[big, small]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as http:
            reply = await http.post(
                "/codec/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
    finally:
        server.should_exit = True
        await serving
    assert reply.status_code == 200, reply.text
    decoded = json_format.ParseDict(reply.json(), Payloads()).payloads
    assert decoded[0] == big
    assert decoded[1].data == b'"call Ann"'
