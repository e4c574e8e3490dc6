"""The codec server over real HTTP on loopback: authorised callers decode, others are refused."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.codec import codec_router, create_app, local_ui_auth
from naestro.codec import EncryptionCodec, data_converter, generate_key, parse_keys
from naestro.contracts import TaskRequest
from naestro.errors import ConfigError

TOKEN = "codec-test-token-0123456789"
UI = "http://localhost:8233"


@pytest.fixture(scope="module")
def keys() -> str:
    return f"{generate_key('new')},{generate_key('old')}"


@pytest.fixture
async def base_url(keys: str) -> AsyncIterator[str]:
    app = create_app({"NAESTRO_CODEC_KEYS": keys, "NAESTRO_CODEC_TOKEN": TOKEN})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # A socket that listens before the server starts: early connections wait in its backlog.
    sock = socket.create_server(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task


async def _encrypted_body(keys: str) -> dict[str, object]:
    codec = EncryptionCodec(parse_keys(keys))
    payloads = await data_converter(codec).encode([TaskRequest(prompt="call Ann on 555")])
    return json_format.MessageToDict(Payloads(payloads=payloads))


async def test_authorised_caller_sees_plaintext(base_url: str, keys: str) -> None:
    body = await _encrypted_body(keys)
    async with httpx.AsyncClient(base_url=base_url) as http:
        reply = await http.post(
            "/codec/decode",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
        )
    assert reply.status_code == 200, reply.text
    (payload,) = reply.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert b"call Ann on 555" in base64.b64decode(payload["data"])


async def test_encode_then_decode_round_trip(base_url: str) -> None:
    plain = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IkhpIg=="}]}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth) as http:
        encoded = (await http.post("/codec/encode", json=plain)).json()
        assert encoded != plain
        decoded = (await http.post("/codec/decode", json=encoded)).json()
    assert decoded == plain


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "scheme"],
)
async def test_others_are_refused(base_url: str, keys: str, headers: dict[str, str]) -> None:
    body = await _encrypted_body(keys)
    async with httpx.AsyncClient(base_url=base_url) as http:
        reply = await http.post("/codec/decode", json=body, headers=headers)
    assert reply.status_code == 401
    assert "Ann" not in reply.text


async def test_cors_preflight_allows_the_ui_origin_only(base_url: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    async with httpx.AsyncClient(base_url=base_url) as http:
        ok = await http.options("/codec/decode", headers={"Origin": UI, **preflight})
        evil = await http.options(
            "/codec/decode", headers={"Origin": "http://evil.test", **preflight}
        )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == UI
    assert "access-control-allow-origin" not in evil.headers


async def test_bad_body_and_unknown_key_are_named(base_url: str) -> None:
    foreign = await _encrypted_body(generate_key("elsewhere"))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth) as http:
        bad = await http.post("/codec/decode", content=b"not json")
        unknown = await http.post("/codec/decode", json=foreign)
    assert bad.status_code == 400 and "protobuf JSON" in bad.text
    assert unknown.status_code == 422 and "'elsewhere'" in unknown.text


def test_refuses_to_start_without_keys_or_token(keys: str) -> None:
    with pytest.raises(ConfigError, match="NAESTRO_CODEC_KEYS"):
        create_app({"NAESTRO_CODEC_TOKEN": TOKEN})
    with pytest.raises(ConfigError, match="never runs unauthenticated"):
        create_app({"NAESTRO_CODEC_KEYS": keys})
    with pytest.raises(ConfigError, match="at least 16"):
        create_app({"NAESTRO_CODEC_KEYS": keys, "NAESTRO_CODEC_TOKEN": "short"})


@pytest.mark.parametrize(
    ("peer", "origin", "code"),
    [
        ("127.0.0.1", UI, 200),  # the embedded UI in the local browser
        ("::1", "http://127.0.0.1:8233", 200),
        ("::ffff:127.0.0.1", UI, 200),
        ("127.0.0.1", None, 200),  # a local tool: `temporal workflow show --codec-endpoint`
        ("127.0.0.1", "http://evil.test", 403),  # another page, even rebound to 127.0.0.1
        ("192.168.1.20", UI, 403),  # another machine
        ("192.168.1.20", None, 403),
    ],
)
async def test_dev_auth_serves_the_local_ui_only(
    keys: str, peer: str, origin: str | None, code: int
) -> None:
    app = FastAPI()
    app.include_router(
        codec_router(
            EncryptionCodec(parse_keys(keys)), local_ui_auth([UI, "http://127.0.0.1:8233"])
        )
    )
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    headers = {"Origin": origin} if origin else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        reply = await http.post("/codec/decode", json=await _encrypted_body(keys), headers=headers)
    assert reply.status_code == code, reply.text
    if code == 200:
        (payload,) = reply.json()["payloads"]
        assert b"call Ann on 555" in base64.b64decode(payload["data"])
