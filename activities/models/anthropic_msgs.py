"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
from anthropic import AsyncAnthropic, Omit, omit
from anthropic.types import (
    Message,
    MessageDeltaUsage,
    MessageParam,
    RawMessageStreamEvent,
)
from anthropic.types import Usage as AnthropicUsage

from activities.models._http import (
    Reply,
    connection_error,
    error_message,
    status_error,
)
from activities.models.base import OnProgress
from activities.models.sdk import SdkProvider
from naestro.contracts import ChatMessage, ModelRequest, ToolCall, Usage
from naestro.errors import ProviderError

DEFAULT_ENDPOINT = "https://api.anthropic.com"


class AnthropicProvider(SdkProvider[AsyncAnthropic]):
    """Messages API adapter; system messages travel in the ``system`` parameter.

    ``request.temperature`` is not sent: the Messages API this SDK speaks has no sampling
    parameters any more (effort lives in ``output_config``).
    """

    sdk_error = anthropic.APIError

    def _new_client(self, key: str) -> AsyncAnthropic:
        return AsyncAnthropic(
            base_url=self.config.endpoint or DEFAULT_ENDPOINT,
            api_key=key,
            max_retries=0,
            timeout=self.config.timeout_seconds,
        )

    async def _plain(self, client: AsyncAnthropic, request: ModelRequest) -> Reply:
        structured = request.response_schema is not None
        return _read_message(await self._create(client, request), structured)

    async def _create(self, client: AsyncAnthropic, request: ModelRequest) -> Message:
        system, messages = _split(request.messages)
        tools, tool_choice = _tools(request)
        return await client.messages.create(
            model=self.config.model,
            max_tokens=request.max_output_tokens,
            messages=messages,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
        )

    async def _stream(
        self, client: AsyncAnthropic, request: ModelRequest, on_progress: OnProgress | None
    ) -> Reply:
        system, messages = _split(request.messages)
        tools, tool_choice = _tools(request)
        stream = await client.messages.create(
            model=self.config.model,
            max_tokens=request.max_output_tokens,
            messages=messages,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            stream=True,
        )
        folded = _Stream(structured=request.response_schema is not None)
        async with stream:
            async for event in stream:
                delta = folded.add(event)
                if on_progress is not None:
                    on_progress(delta)
        return folded.reply()

    def _map_error(self, exc: anthropic.APIError) -> ProviderError:
        provider = self.config.id
        if isinstance(exc, anthropic.APIStatusError):
            message = error_message(exc.body, exc.message)
            return status_error(provider, exc.status_code, message, exc.response.headers)
        if isinstance(exc, anthropic.APIConnectionError):
            return connection_error(provider, exc)
        return ProviderError(provider, None, error_message(exc.body, exc.message))


def _split(messages: list[ChatMessage]) -> tuple[str | Omit, list[MessageParam]]:
    """The system text, and the turns: a tool call is a ``tool_use`` block of its assistant
    turn, its result a ``tool_result`` block of the next user turn (consecutive turns of one
    role are merged: results and a note after them form one user turn)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = [*_as_blocks(turns[-1]["content"]), *blocks]
        elif m.role != "tool" and not m.tool_calls:
            turns.append({"role": role, "content": m.content})
        else:
            turns.append({"role": role, "content": blocks})
    return (system or omit), cast(list[MessageParam], turns)


def _blocks(m: ChatMessage) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    text = [{"type": "text", "text": m.content}] if m.content or not m.tool_calls else []
    uses = [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in m.tool_calls
    ]
    return [*text, *uses]


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _tools(request: ModelRequest) -> tuple[Any, Any]:
    """The offered tools; a JSON-schema reply is a forced call of one more tool whose input
    schema is the schema."""
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    if request.response_schema is not None:
        tools.append(
            {
                "name": request.schema_name,
                "description": f"Reply with a {request.schema_name} object.",
                "input_schema": request.response_schema,
            }
        )
        return tools, {"type": "tool", "name": request.schema_name}
    if not tools:
        return omit, omit
    return tools, {"type": request.tool_choice}


def _read_message(message: Message, structured: bool) -> Reply:
    uses = [block for block in message.content if block.type == "tool_use"]
    calls: tuple[ToolCall, ...] = ()
    if structured and uses:  # the forced tool's input is the JSON object
        text = json.dumps(uses[0].input)
    else:
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = tuple(_call(u.id, u.name, u.input) for u in uses)
    return Reply(
        text=text,
        usage=_Counts().fold(message.usage).usage(),
        model=message.model,
        finish_reason=message.stop_reason or "",
        tool_calls=calls,
    )


def _call(call_id: str, name: str, given: object) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=given if isinstance(given, dict) else {})


@dataclass
class _Stream:
    """A streamed message folded event by event: text, tool calls (their JSON input comes
    in pieces per content block), usage. A structured reply's text is the forced tool's
    JSON input."""

    structured: bool
    parts: list[str] = field(default_factory=list)
    uses: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)
    model: str = ""
    finish: str = ""
    counts: _Counts = field(default_factory=lambda: _Counts())

    def add(self, event: RawMessageStreamEvent) -> str:
        """Fold one event; the text it adds (the live tokens)."""
        delta = ""
        if event.type == "message_start":
            self.model = event.message.model
            self.counts.fold(event.message.usage)
        elif event.type == "content_block_start" and event.content_block.type == "tool_use":
            block = event.content_block
            self.uses[event.index] = (block.id, block.name, [])
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            delta = event.delta.text
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            if self.structured:
                delta = event.delta.partial_json  # the forced tool's JSON input
            elif event.index in self.uses:
                self.uses[event.index][2].append(event.delta.partial_json)
        elif event.type == "message_delta":
            self.finish = event.delta.stop_reason or self.finish
            self.counts.fold(event.usage)
        self.parts.append(delta)
        return delta

    def reply(self) -> Reply:
        calls = (
            ()
            if self.structured
            else tuple(
                _call(use_id, name, _json_object("".join(pieces)))
                for _, (use_id, name, pieces) in sorted(self.uses.items())
            )
        )
        return Reply(
            text="".join(self.parts),
            usage=self.counts.usage(),
            model=self.model,
            finish_reason=self.finish,
            tool_calls=calls,
        )


def _json_object(text: str) -> object:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}


@dataclass
class _Counts:
    """Anthropic's raw counters. Cache reads and writes are reported apart from
    ``input_tokens``; ``message_delta`` repeats them cumulatively, when it has them."""

    input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    thinking: int = 0

    def fold(self, usage: AnthropicUsage | MessageDeltaUsage) -> _Counts:
        self.input = _latest(usage.input_tokens, self.input)
        self.cache_read = _latest(usage.cache_read_input_tokens, self.cache_read)
        self.cache_write = _latest(usage.cache_creation_input_tokens, self.cache_write)
        self.output = usage.output_tokens
        if usage.output_tokens_details is not None:
            self.thinking = usage.output_tokens_details.thinking_tokens
        return self

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input + self.cache_read + self.cache_write,
            output_tokens=self.output,
            cached_input_tokens=self.cache_read,
            reasoning_tokens=self.thinking,
        )


def _latest(value: int | None, previous: int) -> int:
    return previous if value is None else value
