"""FastAPI dependencies: the gateway state, the caller (authenticated, rate-limited), scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthError, Principal
from api.limits import TooBusy
from api.service import Gateway
from api.telemetry import throttled

_bearer = HTTPBearer(auto_error=False, description="an API key (nk_...) or a JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(gateway)]


async def principal(
    gw: GatewayDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    try:
        who = await gw.auth.authenticate(bearer.credentials if bearer else None, api_key)
    except AuthError as exc:
        raise HTTPException(exc.status, exc.detail, {"WWW-Authenticate": "Bearer"}) from None
    try:
        await gw.limiter.take(who.bucket)
    except TooBusy as exc:
        throttled("rate_limit")
        raise HTTPException(429, exc.detail, {"Retry-After": str(exc.retry_after)}) from None
    return who


def require(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.allows(scope):
            raise HTTPException(403, f"this needs the {scope!r} scope")
        return who

    return check


Reader = Annotated[Principal, Depends(require("tasks:read"))]
Writer = Annotated[Principal, Depends(require("tasks:write"))]
Approver = Annotated[Principal, Depends(require("approvals:write"))]
