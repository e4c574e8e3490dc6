"""JWT bearer tokens (pinned algorithms, issuer, audience), key revocation, 429s."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.db import create_pool
from api.keys import revoke_key
from naestro.codec import EncryptionCodec, data_converter
from naestro.contracts import TaskRequest
from tests.api.conftest import JWT_SECRET, Gw, gateway
from tests.api.helpers import until


def _token(**over: Any) -> str:
    claims = {
        "sub": "alice",
        "iss": "naestro",
        "aud": "naestro-api",
        "exp": int(time.time()) + 300,
        "tenant": "jwt-tenant",
        "scope": "tasks:read tasks:write",
        **over,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]


async def _get(gw: Gw, token: str) -> httpx.Response:
    async with gw.http(token) as http:
        return await http.get("/v1/tasks")


async def test_jwt_accepted_and_bad_ones_refused(gw: Gw) -> None:
    good = await _get(gw, _token())
    claims = jwt.decode(_token(), JWT_SECRET, algorithms=["HS256"], audience="naestro-api")
    alg_none = await _get(gw, _unsigned(claims))
    wrong_aud = await _get(gw, _token(aud="someone-else"))
    wrong_iss = await _get(gw, _token(iss="evil"))
    expired = await _get(gw, _token(exp=int(time.time()) - 10))
    wrong_key = await _get(
        gw, jwt.encode({"sub": "x"}, "another-secret-another-secret-xx", "HS256")
    )
    assert good.status_code == 200
    assert alg_none.status_code == 401
    assert wrong_aud.status_code == 401 and "audience" in wrong_aud.json()["detail"].lower()
    assert wrong_iss.status_code == 401 and expired.status_code == 401
    assert wrong_key.status_code == 401


async def test_jwt_scopes_limit_what_it_may_do(gw: Gw) -> None:
    async with gw.http(_token(scope="tasks:read")) as http:
        denied = await http.post("/v1/tasks", json={"prompt": "x"})
    assert denied.status_code == 403


async def test_revoked_key_is_refused(gw: Gw) -> None:
    key = await gw.key("acme", ("tasks:read",))
    assert (await _get(gw, key)).status_code == 200
    pool = await create_pool(gw.database_url, gw.settings.memory)
    try:
        await revoke_key(pool, key)
    finally:
        await pool.close()
    assert (await _get(gw, key)).status_code == 401


async def test_rate_limit_answers_429_with_retry_after(gw: Gw) -> None:
    key = await gw.key("acme", ("tasks:read",))
    codes = []
    async with gw.http(key) as http:
        for _ in range(1000):  # a burst faster than the bucket refills (50/s, burst 200)
            reply = await http.get("/v1/models")
            codes.append(reply.status_code)
            if reply.status_code == 429:
                break
    assert codes[-1] == 429 and set(codes[:-1]) == {200}
    assert len(codes) > 200  # the burst was allowed first
    assert int(reply.headers["Retry-After"]) >= 1


async def test_backpressure_answers_429_when_model_queue_is_full(
    env: Any, database_url: str
) -> None:
    async with gateway(env.client, database_url, max_model_tasks=1) as small:
        key = await small.key()
        async with small.http(key) as http:
            first = await http.post("/v1/tasks", json={"prompt": "slow", "policy": "approve_plan"})

            async def busy() -> httpx.Response | None:
                reply = await http.post("/v1/tasks", json={"prompt": f"more {time.time()}"})
                return reply if reply.status_code == 429 else None

            refused = await until(busy)
            await http.post(f"/v1/tasks/{first.json()['task_id']}/cancel")
    assert "Retry-After" in refused.headers
    assert "models" in refused.json()["detail"]


async def test_codec_endpoint_is_admin_only_outside_naestro_dev(
    gw: Gw, codec: EncryptionCodec
) -> None:
    # Loopback and the dev UI's origin, yet no token: only `naestro dev` lets that in.
    payloads = await data_converter(codec).encode([TaskRequest(prompt="call Ann on 555")])
    body = json_format.MessageToDict(Payloads(payloads=payloads))
    ui = {"Origin": "http://localhost:8233"}
    reader, admin = await gw.key(scopes=("tasks:read",)), await gw.key()
    async with gw.http() as anyone, gw.http(reader) as read, gw.http(admin) as root:
        refused = await anyone.post("/codec/decode", json=body, headers=ui)
        forbidden = await read.post("/codec/decode", json=body, headers=ui)
        decoded = await root.post("/codec/decode", json=body, headers=ui)
    assert refused.status_code == 401 and forbidden.status_code == 403
    assert decoded.status_code == 200, decoded.text
    (payload,) = decoded.json()["payloads"]
    assert b"call Ann on 555" in base64.b64decode(payload["data"])
