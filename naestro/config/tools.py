"""Tools (`tools:` in temporal.yaml): MCP servers, per-tenant allow-lists and the bounds of a
task's tool calls (docs/tools.md).

Secrets are never here: an MCP server's credentials are *names* of the worker's environment
variables (``env: {API_TOKEN: SEARCH_TOKEN_ENV}`` for a stdio server,
``headers: {Authorization: {env: NAME, prefix: "Bearer "}}`` for an HTTP one), read by the
tools worker when it connects, so no credential enters a workflow's history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from naestro.contracts import Location, ToolsPolicy

BUILTINS = frozenset({"sandbox.run_python", "memory.search"})
BUILTIN_SERVERS = frozenset(name.split(".")[0] for name in BUILTINS)
# No "__" in a server's name: it separates server and tool in the wire name.
SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*$")
_ENTRY = re.compile(r"^([^.\s]+)\.(\S+)$")
# Header names whose plain value would be a secret in the file.
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|key|password", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvValue(_Strict):
    """A value the worker reads from its environment when it connects (``prefix`` + value)."""

    env: str = Field(min_length=1, description="the worker's environment variable")
    prefix: str = ""

    def read(self, environ: Mapping[str, str]) -> str | None:
        value = environ.get(self.env)
        return None if value is None else self.prefix + value


class McpServerConfig(_Strict):
    """An MCP server: a command spoken to over stdio (started per call, its process tree
    killed after it) or a streamable HTTP endpoint."""

    command: list[str] | None = Field(default=None, min_length=1, description="stdio: argv")
    cwd: str | None = None
    env: dict[str, str] = Field(
        default={}, description="stdio: the server's variable -> the worker's variable holding it"
    )
    url: str | None = Field(default=None, description="streamable HTTP: the endpoint")
    headers: dict[str, EnvValue | str] = Field(
        default={}, description="HTTP: plain values, or {env, prefix} for credentials"
    )
    location: Location | None = Field(
        default=None,
        description="where it runs, for the PII policy (None: stdio local, HTTP cloud)",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (stdio) or url (streamable HTTP)")
        if self.url is None and self.headers:
            raise ValueError("headers are for url (HTTP) servers")
        if self.command is None and (self.env or self.cwd):
            raise ValueError("env and cwd are for command (stdio) servers")
        for name, value in self.headers.items():
            if isinstance(value, str) and _SECRET_HEADER.search(name):
                raise ValueError(
                    f"headers.{name}: secrets come from the environment: use {{env: VARIABLE}}"
                )
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @property
    def where(self) -> Location:
        if self.location is not None:
            return self.location
        return "local" if self.transport == "stdio" else "cloud"

    def child_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The stdio server's extra variables, read from the worker's (unset ones left out)."""
        return {name: environ[var] for name, var in self.env.items() if var in environ}

    def http_headers(self, environ: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for name, value in self.headers.items():
            text = value if isinstance(value, str) else value.read(environ)
            if text is not None:
                out[name] = text
        return out


class ToolsConfig(_Strict):
    servers: dict[str, McpServerConfig] = Field(default={}, description="MCP servers by name")
    tenants: dict[str, list[str]] = Field(
        default={},
        description="tenant -> allow-list; a tool must be on it and on the policy's "
        "(a tenant not named here: the policy's list alone)",
    )
    max_calls_per_task: int = Field(default=16, ge=0)
    max_calls_per_phase: int = Field(default=8, ge=0, description="each implement/refine step")
    call_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_result_chars: int = Field(default=16_000, ge=100, description="longer results are cut")
    list_cache_seconds: float = Field(
        default=300.0, ge=0, description="how long a tools worker keeps a server's tool list"
    )

    @field_validator("servers")
    @classmethod
    def _server_names(cls, servers: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in servers:
            if not SERVER_NAME.match(name):
                raise ValueError(f"{name!r}: letters, digits, '-' and single '_' only")
            if name in BUILTIN_SERVERS:
                raise ValueError(f"{name!r} is a built-in's name")
        return servers

    @model_validator(mode="after")
    def _tenant_lists(self) -> ToolsConfig:
        for tenant, entries in self.tenants.items():
            self.check_allow_list(f"tools.tenants.{tenant}", entries)
        return self

    def check_allow_list(self, where: str, entries: list[str]) -> None:
        """Raise ValueError naming ``where`` for an entry that names no known tool."""
        for entry in entries:
            match = _ENTRY.match(entry)
            server = match.group(1) if match else ""
            if server in BUILTIN_SERVERS and (entry in BUILTINS or entry == f"{server}.*"):
                continue
            if not match:
                raise ValueError(f"{where}: {entry!r} is not server.tool or server.*")
            if server in BUILTIN_SERVERS:
                builtins = ", ".join(sorted(BUILTINS))
                raise ValueError(f"{where}: {entry!r} is no built-in (built-ins: {builtins})")
            if server not in self.servers:
                known = ", ".join(sorted([*self.servers, *BUILTINS])) or "none"
                raise ValueError(f"{where}: {entry!r} names no tool server (known: {known})")

    def policy(
        self, allow: list[str], tenant: str, task_queue: str, memory_queue: str | None
    ) -> ToolsPolicy | None:
        """A task's tools under a policy's allow-list and its tenant's (None: no tools)."""
        if not allow:
            return None
        return ToolsPolicy(
            allow=allow,
            tenant_allow=self.tenants.get(tenant),
            task_queue=task_queue,
            locations={name: server.where for name, server in self.servers.items()},
            max_calls_per_task=self.max_calls_per_task,
            max_calls_per_phase=self.max_calls_per_phase,
            call_timeout_seconds=self.call_timeout_seconds,
            max_result_chars=self.max_result_chars,
            memory_task_queue=memory_queue,
        )
