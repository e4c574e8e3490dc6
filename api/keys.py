"""API keys: created once (the secret is shown once), stored as a sha256 hash, revocable.

A key reads ``nk_<12 hex id>_<secret>``; the id finds the row, the secret's hash is
compared in constant time. The secret has 256 bits of entropy, so a plain sha256 (not a
slow password hash) is the right tool: it cannot be brute-forced and costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from api.db import Pool
from naestro.errors import NaestroError

PREFIX = "nk_"
ID_LEN = 12
SCOPES = ("tasks:read", "tasks:write", "approvals:write", "admin")


class KeyError_(NaestroError):
    """A key could not be created or revoked."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant: str
    scopes: tuple[str, ...]
    name: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    if not token.startswith(PREFIX) or len(token) < len(PREFIX) + ID_LEN + 2:
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition("_")
    if len(key_id) != ID_LEN or not sep or not secret:
        return None
    return key_id, secret


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise KeyError_(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}"
        )
    return list(dict.fromkeys(scopes))


async def create_key(pool: Pool, tenant: str, scopes: list[str], name: str = "") -> str:
    """Store a new key and return it in full (the only time the secret exists in clear)."""
    wanted = check_scopes(scopes)
    if not tenant:
        raise KeyError_("a key needs a tenant")
    key_id = secrets.token_hex(ID_LEN // 2)
    secret = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO api_keys (id, secret_hash, name, tenant, scopes) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        _hash(secret),
        name,
        tenant,
        wanted,
    )
    return f"{PREFIX}{key_id}_{secret}"


async def revoke_key(pool: Pool, key_or_id: str) -> None:
    parts = split_key(key_or_id)
    key_id = parts[0] if parts else key_or_id.removeprefix(PREFIX)
    done = await pool.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    if done != "UPDATE 1":
        raise KeyError_(f"no active key with id {key_id!r}")


async def verify_key(pool: Pool, token: str) -> KeyRecord | None:
    """The key's record when the token is a valid, unrevoked key; else None."""
    parts = split_key(token)
    if parts is None:
        return None
    key_id, secret = parts
    row = await pool.fetchrow(
        "SELECT secret_hash, tenant, scopes, name FROM api_keys "
        "WHERE id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    return KeyRecord(id=key_id, tenant=row["tenant"], scopes=tuple(row["scopes"]), name=row["name"])
