"""The web console: static HTML + JS served by the API (no build step), and what the page
needs to know of the gateway and its caller (`GET /v1/console`)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.deps import GatewayDep, Reader
from api.models import ERRORS, ConsoleConfig
from api.validation import JsonRoute
from naestro.connect import ui_base_url
from naestro.contracts import TaskKind, TaskStatusName

STATIC = Path(__file__).resolve().parent.parent / "static"
# The page's scripts, loaded in this order by index.html: helpers first, boot last.
SCRIPTS = frozenset({"app", "tasks", "task", "engines", "research"})
router = APIRouter(route_class=JsonRoute)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/{name}.js", include_in_schema=False)
async def script(name: str) -> FileResponse:
    if name not in SCRIPTS:
        raise HTTPException(404, f"no script {name}.js")
    return FileResponse(STATIC / f"{name}.js", media_type="text/javascript")


@router.get("/v1/console", response_model=ConsoleConfig, tags=["console"], responses=ERRORS)
async def console(who: Reader, gw: GatewayDep) -> ConsoleConfig:
    """The caller (tenant, scopes: an admin may list other tenants' tasks), the Temporal UI's
    address (``NAESTRO_UI_URL``, else the dev server's UI port) and the choices of a task."""
    return ConsoleConfig(
        tenant=who.tenant,
        subject=who.subject,
        admin=who.allows("admin"),
        scopes=sorted(who.scopes),
        namespace=gw.client.namespace,
        temporal_ui_url=ui_base_url(gw.settings.dev.ui_port),
        policies=sorted(gw.settings.policies),
        kinds=list(get_args(TaskKind)),
        statuses=list(get_args(TaskStatusName)),
    )
