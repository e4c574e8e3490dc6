"""Scripted replies from a JSONL file: demos, CI and benchmarks without a model.

Each line is one rule; the first whose given fields all match the request wins::

    {"role": "planner", "phase": "plan", "text": "1. write the function"}
    {"contains": "def add", "text": "looks right", "output_tokens": 12}
    {"text": "fallback reply"}
    {"role": "critic", "error_status": 503}         # the provider fails (a dead provider)
    {"phase": "implement", "tool_calls": [{"name": "echo__shout", "arguments": {"t": "hi"}}]}

A rule with ``tool_calls`` calls those tools (ids ``call_<n>`` unless given); it matches only
a request that offers tools and lets the model call them (``tool_choice`` "auto"), so the
rule after it answers once the tools are spent.

With ``record: FILE`` set, every request received is appended to FILE as a JSON line.
The provider keeps no state between calls, so a retried or replayed activity gets the
same reply.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from activities.models._http import Reply, status_error, to_response
from activities.models.base import OnProgress
from naestro.config.settings import ProviderConfig
from naestro.contracts import ModelRequest, ModelResponse, ToolCall, Usage
from naestro.errors import ConfigError, ProviderRequestRejected

# Streaming requests get a progress call at least this often while latency is simulated.
PROGRESS_EVERY_SECONDS = 1.0
# A streamed scripted reply: one piece per PIECE_SECONDS of latency, at most this many.
PIECE_SECONDS = 0.05
STREAM_PIECES_MAX = 200


class ScriptedCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = {}
    id: str | None = None


class ReplayRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str | None = None
    phase: str | None = None
    contains: str | None = None
    text: str | None = None
    error_status: int | None = Field(default=None, ge=400, le=599, description="fail with it")
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    tool_calls: list[ScriptedCall] | None = Field(default=None, description="call these tools")

    @model_validator(mode="after")
    def _needs_a_reply(self) -> ReplayRule:
        if self.text is None and self.error_status is None and self.tool_calls is None:
            raise ValueError("text: a rule needs text (or error_status, or tool_calls)")
        return self

    def matches(self, request: ModelRequest, prompt: str) -> bool:
        may_call = bool(request.tools) and request.tool_choice == "auto"
        return (
            (self.role is None or self.role == request.role)
            and (self.phase is None or self.phase == request.phase)
            and (self.contains is None or self.contains in prompt)
            and (self.tool_calls is None or may_call)
        )

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=c.id or f"call_{n}", name=c.name, arguments=c.arguments)
            for n, c in enumerate(self.tool_calls or [])
        )


def load_rules(path: Path) -> list[ReplayRule]:
    """Parse a script; a bad line is a ConfigError naming the file and the line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read replay script: {exc.strerror}") from exc
    rules = [_parse(path, number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not rules:
        raise ConfigError(f"{path}: replay script has no rules")
    return rules


def _parse(path: Path, number: int, line: str) -> ReplayRule:
    try:
        return ReplayRule.model_validate_json(line)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        if error["type"] == "json_invalid":
            problem = f"not valid JSON ({error['msg']})"
        else:
            problem = f"{where or 'rule'}: {error['msg']}"
        raise ConfigError(f"{path}:{number}: {problem}") from None


def estimate_tokens(text: str) -> int:
    """The usual four-characters-per-token rule of thumb."""
    return math.ceil(len(text) / 4)


class ReplayProvider:
    """Plays the first matching scripted rule; every reply is marked ``scripted``."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        if not config.script:
            raise ConfigError(f"provider {config.id!r}: engine 'replay' needs script")
        self.rules = load_rules(Path(config.script))

    async def complete(
        self, request: ModelRequest, on_progress: OnProgress | None = None
    ) -> ModelResponse:
        started = time.monotonic()
        prompt = "\n".join(m.content for m in request.messages)
        if self.config.record:
            await asyncio.to_thread(_append_record, Path(self.config.record), request)
        rule = next((r for r in self.rules if r.matches(request, prompt)), None)
        if rule is None:
            raise ProviderRequestRejected(
                self.config.id,
                None,
                f"no scripted reply for role {request.role!r} in phase {request.phase!r}",
            )
        progress = on_progress if request.stream else None
        text, output, finish = _capped(
            rule.text or "", rule.output_tokens, request.max_output_tokens
        )
        if rule.error_status is not None:
            await self._simulate_latency(progress, "")
            raise status_error(self.config.id, rule.error_status, "scripted failure")
        await self._simulate_latency(progress, text)
        usage = Usage(
            input_tokens=_given(rule.input_tokens, estimate_tokens(prompt)),
            output_tokens=output,
        )
        calls = rule.calls()
        finish = "tool_calls" if calls else finish
        reply = Reply(
            text=text, usage=usage, model=self.config.model, finish_reason=finish, tool_calls=calls
        )
        return to_response(self.config, reply, started, scripted=True)

    async def aclose(self) -> None:
        return None

    async def _simulate_latency(self, on_progress: OnProgress | None, text: str) -> None:
        """Wait out the configured latency. Streaming, the reply arrives as a real engine
        sends it: in pieces spread over that time (one piece at the end when it is 0)."""
        latency = self.config.simulated_latency_ms / 1000
        if on_progress is None:
            await asyncio.sleep(latency)
            return
        pieces = _pieces(text, max(1, min(STREAM_PIECES_MAX, int(latency / PIECE_SECONDS))))
        step = latency / len(pieces)
        for piece in pieces:
            remaining = step
            while remaining > 0:  # heartbeats at least every PROGRESS_EVERY_SECONDS
                pause = min(remaining, PROGRESS_EVERY_SECONDS)
                await asyncio.sleep(pause)
                remaining -= pause
                if remaining > 0:
                    on_progress("")
            on_progress(piece)


def _append_record(path: Path, request: ModelRequest) -> None:
    """One JSON line per request received, written before the reply: an audit of exactly
    what the provider saw, including calls that never completed."""
    with path.open("a", encoding="utf-8") as log:
        log.write(request.model_dump_json() + "\n")


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _capped(text: str, tokens: int | None, cap: int) -> tuple[str, int, str]:
    """A scripted reply as a real engine returns it: at most ``cap`` output tokens (cut,
    with finish reason "length", when the script's reply is longer)."""
    size = estimate_tokens(text) if tokens is None else tokens
    if size <= cap:
        return text, size, "stop"
    return (text[: cap * 4] if tokens is None else text), cap, "length"


def _pieces(text: str, count: int) -> list[str]:
    """``text`` cut into at most ``count`` pieces of near-equal length (one empty piece for
    no text), joined they are ``text`` again."""
    if not text:
        return [""]
    count = min(count, len(text))
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]
