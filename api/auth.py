"""Who is calling: API keys (hashed in Postgres) or JWT bearer tokens, with scopes and a tenant.

JWTs are verified with pinned algorithms (never `none`), and must carry exp, iss, aud and
sub with the configured issuer and audience. Scopes come from `scope` (space separated, as
in OAuth 2) or `scopes` (a list); the tenant from the configured claim.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from api.db import Pool
from api.keys import SCOPES, KeyRecord, verify_key
from naestro.config.gateway import JwtConfig


class AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    scopes: frozenset[str]
    kind: str  # "key" | "jwt"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def bucket(self) -> str:
        return f"{self.kind}:{self.subject}"


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scopes", []))
    items = raw.split() if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return frozenset(s for s in items if s in SCOPES)


def decode_jwt(token: str, cfg: JwtConfig) -> Principal:
    key = cfg.key()
    if key is None:
        raise AuthError(401, f"bearer tokens are not accepted here ({cfg.key_env} is unset)")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=cfg.algorithms,
            audience=cfg.audience,
            issuer=cfg.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError as exc:
        raise AuthError(401, f"invalid token: {exc}") from None
    tenant = claims.get(cfg.tenant_claim)
    if not isinstance(tenant, str) or not tenant:
        raise AuthError(403, f"the token has no {cfg.tenant_claim!r} claim")
    return Principal(subject=str(claims["sub"]), tenant=tenant, scopes=_scopes(claims), kind="jwt")


def _from_record(record: KeyRecord) -> Principal:
    return Principal(
        subject=record.id, tenant=record.tenant, scopes=frozenset(record.scopes), kind="key"
    )


class Authenticator:
    """Turns a credential into a Principal; verified keys are cached for a few seconds."""

    def __init__(self, pool: Pool, cfg: JwtConfig, cache_seconds: float) -> None:
        self._pool = pool
        self._cfg = cfg
        self._ttl = cache_seconds
        self._seen: dict[str, tuple[float, Principal]] = {}

    async def _key(self, token: str) -> Principal:
        now = time.monotonic()
        hit = self._seen.get(token)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        record = await verify_key(self._pool, token)
        if record is None:
            self._seen.pop(token, None)
            raise AuthError(401, "invalid or revoked API key")
        principal = _from_record(record)
        if self._ttl > 0:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[token] = (now, principal)
        return principal

    async def authenticate(self, bearer: str | None, api_key: str | None) -> Principal:
        token = api_key or bearer
        if not token:
            raise AuthError(401, "missing credentials: send Authorization: Bearer <key or JWT>")
        if token.startswith("nk_"):
            return await self._key(token)
        return decode_jwt(token, self._cfg)
