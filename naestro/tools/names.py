"""Tool names and allow-lists. A tool is ``server.tool`` in allow-lists and
``server__tool`` on the wire, where provider function names must match
``^[a-zA-Z0-9_-]{1,64}$`` (characters outside it become ``_``; long names are cut)."""

from __future__ import annotations

import re

from naestro.contracts import ToolSpec, ToolsPolicy

SEPARATOR = "__"
MAX_WIRE = 64
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def wire_name(server: str, tool: str) -> str:
    return _UNSAFE.sub("_", f"{server}{SEPARATOR}{tool}")[:MAX_WIRE]


def split(wire: str) -> tuple[str, str]:
    """``(server, tool)`` of a wire name the catalog does not know (for the refusal's
    record): server names hold no ``__``, so the first one separates them."""
    server, _, tool = wire.partition(SEPARATOR)
    return server, tool


def _on(entries: list[str], server: str, tool: str) -> bool:
    return f"{server}.{tool}" in entries or f"{server}.*" in entries


def allowed(policy: ToolsPolicy, server: str, tool: str) -> bool:
    """On the policy's allow-list, and on the tenant's when it has one."""
    if not _on(policy.allow, server, tool):
        return False
    return policy.tenant_allow is None or _on(policy.tenant_allow, server, tool)


def mcp_servers(policy: ToolsPolicy) -> list[str]:
    """The MCP servers whose tools the policy may offer (discovery asks only these)."""
    named = {entry.partition(".")[0] for entry in policy.allow}
    return sorted(s for s in named if s in policy.locations)


def offered(policy: ToolsPolicy, tools: list[ToolSpec]) -> list[ToolSpec]:
    """The tools a model is offered: allowed ones, first of each wire name."""
    seen: set[str] = set()
    out = []
    for spec in tools:
        if spec.name not in seen and allowed(policy, spec.server, spec.tool):
            seen.add(spec.name)
            out.append(spec)
    return out
