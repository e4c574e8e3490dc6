"""ToolActivities on the tools queue: MCP tool discovery (``naestro.tools.list``, cached per
worker) and one tool call (``naestro.tools.call``).

Workflows import this module for the method references only; the MCP SDK is imported by
the worker, on first use. An input names a server, a tool and the arguments, never a
credential: the worker reads those from its own environment (activities/tools/mcp.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from temporalio import activity

from naestro.config.tools import ToolsConfig
from naestro.contracts import McpCall, McpResult, ToolCatalog, ToolListRequest, ToolSpec
from naestro.errors import ConfigError, ToolServerError, to_application_error
from naestro.tools.results import capped

if TYPE_CHECKING:
    from activities.tools.mcp import McpServers

HEARTBEAT_SECONDS = 2.0


class ToolActivities:
    def __init__(self, config: ToolsConfig, servers: McpServers | None = None) -> None:
        self._config = config
        self._servers = servers
        self._listed: dict[str, tuple[float, list[ToolSpec]]] = {}

    @property
    def servers(self) -> McpServers:
        if self._servers is None:
            from activities.tools.mcp import McpServers  # the MCP SDK: tools workers only

            self._servers = McpServers(self._config)
        return self._servers

    @activity.defn(name="naestro.tools.list")
    async def list_tools(self, request: ToolListRequest) -> ToolCatalog:
        """Each server's tools (from this worker's cache while fresh); a server that cannot
        be reached is named in ``errors`` and the others are listed all the same."""
        tools: list[ToolSpec] = []
        errors: dict[str, str] = {}
        async with _heartbeating():
            for server in request.servers:
                try:
                    tools += await self._tools_of(server)
                except (ToolServerError, ConfigError) as exc:
                    activity.logger.warning("tool server %s not listed: %s", server, exc)
                    errors[server] = str(exc)
        return ToolCatalog(tools=tools, errors=errors)

    @activity.defn(name="naestro.tools.call")
    async def call(self, request: McpCall) -> McpResult:
        """Call one tool. A tool's error and a call past its timeout are results the model
        reads; a server that cannot be reached is an error (retried). A cancel or a timeout
        ends the call's connection, and with a stdio server its whole process tree."""
        started = time.monotonic()
        try:
            async with _heartbeating(), asyncio.timeout(request.timeout_seconds):
                text, is_error = await self.servers.call(
                    request.server, request.tool, request.arguments, request.timeout_seconds
                )
        except TimeoutError:
            text, is_error = f"timed out after {request.timeout_seconds:g} s", True
        except (ToolServerError, ConfigError) as exc:
            raise to_application_error(exc) from None  # no chained cause in history
        activity.logger.info(
            "tool call: server=%s tool=%s error=%s chars=%d ms=%.0f",
            request.server,
            request.tool,
            is_error,
            len(text),
            (time.monotonic() - started) * 1000,
        )
        body, truncated = capped(text, request.max_result_chars)
        return McpResult(text=body, is_error=is_error, truncated=truncated, chars=len(text))

    async def _tools_of(self, server: str) -> list[ToolSpec]:
        listed = self._listed.get(server)
        if listed is not None and time.monotonic() - listed[0] < self._config.list_cache_seconds:
            return listed[1]
        tools = await self.servers.list(server)
        self._listed[server] = (time.monotonic(), tools)
        return tools

    async def aclose(self) -> None:
        if self._servers is not None:
            await self._servers.aclose()


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while the block runs: a cancel reaches an activity only through them."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task})
