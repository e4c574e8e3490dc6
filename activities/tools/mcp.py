"""MCP clients for the tools worker, through the official ``mcp`` SDK.

A stdio server is started for each call and gone after it: the SDK starts it in a session
of its own and kills its process group on the way out (done, failed, timed out or
cancelled), and ``PR_SET_PDEATHSIG`` kills it with the worker should the worker itself die.
A streamable HTTP server gets a new MCP session per call over one pooled HTTP client per
server. Credentials are read here, from the worker's environment (the variables the
config names); nothing of them leaves this process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from naestro.config.tools import McpServerConfig, ToolsConfig
from naestro.contracts import ToolSpec
from naestro.errors import ConfigError, ToolServerError
from naestro.tools.names import wire_name

MAX_DESCRIPTION = 1024
CONNECT_SECONDS = 30.0
# Run first in the stdio server's process: die with the parent (the worker), then become
# the server (execvp keeps the death signal).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


class McpServers:
    """The configured servers: list their tools, call one."""

    def __init__(self, config: ToolsConfig, environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._environ = os.environ if environ is None else environ
        self._http: dict[str, httpx2.AsyncClient] = {}

    async def list(self, server: str) -> list[ToolSpec]:
        async with self._client(server, CONNECT_SECONDS) as client:
            try:
                listed = await client.list_tools()
            except Exception as exc:
                raise ToolServerError(f"{server}: listing its tools failed: {_why(exc)}") from exc
        return [
            ToolSpec(
                name=wire_name(server, tool.name),
                description=(tool.description or "")[:MAX_DESCRIPTION],
                parameters=tool.input_schema or {"type": "object", "properties": {}},
                server=server,
                tool=tool.name,
            )
            for tool in listed.tools
        ]

    async def call(
        self, server: str, tool: str, arguments: dict[str, Any], read_seconds: float
    ) -> tuple[str, bool]:
        """The tool's result as text, and whether the tool reported an error."""
        async with self._client(server, read_seconds) as client:
            try:
                result = await client.call_tool(tool, arguments, read_timeout_seconds=read_seconds)
            except Exception as exc:
                raise ToolServerError(f"{server}: calling {tool} failed: {_why(exc)}") from exc
        return result_text(result), result.is_error

    async def aclose(self) -> None:
        for http in self._http.values():
            await http.aclose()
        self._http.clear()

    def _client(self, server: str, read_seconds: float) -> _Connected:
        config = self._config.servers.get(server)
        if config is None:
            raise ConfigError(f"no MCP server {server!r} in this worker's tools.servers")
        if config.command is not None:
            transport: Any = stdio_client(self._stdio(config), errlog=sys.__stderr__ or sys.stderr)
        else:
            assert config.url is not None
            http = self._http_client(server, config)
            transport = streamable_http_client(config.url, http_client=http)
        return _Connected(server, Client(transport, read_timeout_seconds=read_seconds, cache=None))

    def _stdio(self, config: McpServerConfig) -> StdioServerParameters:
        assert config.command is not None
        command, args = config.command[0], config.command[1:]
        if sys.platform.startswith("linux"):
            command, args = sys.executable, ["-c", _DIE_WITH_PARENT, command, *args]
        return StdioServerParameters(
            command=command, args=args, env=config.child_env(self._environ), cwd=config.cwd
        )

    def _http_client(self, server: str, config: McpServerConfig) -> httpx2.AsyncClient:
        if server not in self._http:
            self._http[server] = httpx2.AsyncClient(
                headers=config.http_headers(self._environ),
                timeout=httpx2.Timeout(CONNECT_SECONDS, read=300.0),
            )
        return self._http[server]


class _Connected:
    """``async with``: a connected MCP client; failing to connect is a ToolServerError."""

    def __init__(self, server: str, client: Client) -> None:
        self._server, self._client = server, client

    async def __aenter__(self) -> Client:
        try:
            return await self._client.__aenter__()
        except Exception as exc:
            raise ToolServerError(f"{self._server}: cannot connect: {_why(exc)}") from exc

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._client.__aexit__(*exc_info)
        except Exception as exc:  # a session that ends badly after its answer is no news
            if exc_info[0] is None:
                raise ToolServerError(f"{self._server}: {_why(exc)}") from exc


def result_text(result: CallToolResult) -> str:
    """The text a model reads: text parts as they are, others named; structured content
    as JSON when the tool gave no text."""
    parts = []
    for item in result.content:
        if isinstance(item, TextContent):
            parts.append(item.text)
        else:
            parts.append(f"[{item.type} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _why(exc: BaseException) -> str:
    """The innermost message of an (anyio) exception group, else the error's own."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:500]
