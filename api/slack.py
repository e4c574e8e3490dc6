"""Slack-style interactions: v0 signature check, 5-minute window, replay protection.

Slack signs ``v0:{timestamp}:{raw body}`` with HMAC-SHA256 under the app's signing secret
and sends ``X-Slack-Signature: v0=<hex>`` and ``X-Slack-Request-Timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from api.db import Pool
from api.service import ApiError


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    max_skew: int,
) -> None:
    """Raise ApiError(401) unless the request is signed with `secret` within the window."""
    if not secret:
        raise ApiError(503, "Slack interactions are off: no signing secret configured")
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        raise ApiError(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
    # In integers, after a length check: a 400-digit timestamp overflows a float, and
    # int() refuses over 4300 digits. Twelve digits is past the year 33000.
    if len(timestamp) > 12 or abs(int(now) - int(timestamp)) > max_skew:
        raise ApiError(401, "stale request: timestamp outside the 5-minute window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise ApiError(401, "bad signature")


@dataclass(frozen=True)
class Click:
    user: str
    action: str  # approve | reject
    task_id: str
    stage: str
    content_hash: str


def parse_click(body: bytes) -> Click:
    """The button click in a block_actions payload (form field `payload`)."""
    try:
        payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        task_id, stage, digest = str(action["value"]).split("|")
        return Click(str(payload["user"]["id"]), str(action["action_id"]), task_id, stage, digest)
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"not a block_actions payload with a Naestro button ({exc})") from None


async def claim(pool: Pool, signature: str) -> None:
    """Record the request; raise 409 when the same signed request was applied before."""
    added = await pool.execute(
        "INSERT INTO slack_requests (signature) VALUES ($1) ON CONFLICT DO NOTHING", signature
    )
    if added != "INSERT 0 1":
        raise ApiError(409, "replayed request: already applied")


async def release(pool: Pool, signature: str) -> None:
    await pool.execute("DELETE FROM slack_requests WHERE signature = $1", signature)
