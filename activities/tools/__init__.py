"""Tool calls: MCP servers over stdio and streamable HTTP, on the tools queue."""
