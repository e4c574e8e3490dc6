"""The built-in tools: ``sandbox.run_python`` (a script in the sandbox, through the sandbox
activity with framework "script") and ``memory.search`` (the memory's hybrid retrieval, in
the task's tenant). Their specs, their activity requests and the text a model reads back."""

from __future__ import annotations

from typing import Any

from naestro.contracts import (
    SandboxFile,
    SandboxLimits,
    ToolSpec,
    VerificationReport,
    VerifyRequest,
)
from naestro.contracts.memory import SearchRequest, SearchResult
from naestro.pii import exposure
from naestro.tools.names import wire_name

RUN_PYTHON = ("sandbox", "run_python")
MEMORY_SEARCH = ("memory", "search")
MAX_CODE_CHARS = 100_000
MAX_HITS = 10
HIT_CHARS = 1200

SPECS = (
    ToolSpec(
        name=wire_name(*RUN_PYTHON),
        description="Run a Python 3 script in an isolated sandbox (no network) and get its "
        "exit code and output (stdout and stderr). Print what you want to see.",
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "the script"}},
            "required": ["code"],
        },
        server=RUN_PYTHON[0],
        tool=RUN_PYTHON[1],
    ),
    ToolSpec(
        name=wire_name(*MEMORY_SEARCH),
        description="Search the organisation's memory (ingested documents and verified past "
        "answers) and get the best matching passages with their sources.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_HITS},
            },
            "required": ["query"],
        },
        server=MEMORY_SEARCH[0],
        tool=MEMORY_SEARCH[1],
    ),
)


def _text_argument(arguments: dict[str, Any], name: str, limit: int) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"argument {name!r} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"argument {name!r} is longer than {limit} characters")
    return value


def sandbox_request(arguments: dict[str, Any], timeout_seconds: float) -> VerifyRequest:
    """The script as a sandbox run (raises ValueError for arguments that are no script)."""
    code = _text_argument(arguments, "code", MAX_CODE_CHARS)
    return VerifyRequest(
        files=[SandboxFile(path="main.py", content=code)],
        framework="script",
        limits=SandboxLimits(wall_seconds=timeout_seconds),
        use_cache=False,
    )


def sandbox_text(report: VerificationReport) -> str:
    status = "timed out" if report.timed_out else f"exit code {report.exit_code}"
    cut = " (output truncated)" if report.output_truncated else ""
    return f"{status}{cut}\n{report.output}"


def search_request(arguments: dict[str, Any], tenant: str) -> SearchRequest:
    query = _text_argument(arguments, "query", 2000)
    k = arguments.get("k", 5)
    k = k if isinstance(k, int) and 1 <= k <= MAX_HITS else 5
    return SearchRequest(query=query, tenant=tenant, k=k)


def search_text(result: SearchResult) -> str:
    """The hits, numbered with their citations; their PII masked for good, as retrieved
    text always is in a prompt (exposure.for_context)."""
    if not result.hits:
        return "no matches"
    return "\n\n".join(
        f"[{n}] {hit.citation}:\n{exposure.for_context(hit.content[:HIT_CHARS])}"
        for n, hit in enumerate(result.hits, 1)
    )
