"""Tool use, the pure part: wire names and allow-lists, the built-in tools, the bounds of a
task's calls and what the model reads back. Workflows and activities both import it."""
