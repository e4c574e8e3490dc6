"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anthropic
from anthropic import AsyncAnthropic, Omit, omit
from anthropic.types import Message, MessageDeltaUsage, MessageParam
from anthropic.types import Usage as AnthropicUsage

from activities.models._http import (
    Reply,
    connection_error,
    error_message,
    status_error,
)
from activities.models.base import OnProgress
from activities.models.sdk import SdkProvider
from naestro.contracts import ChatMessage, ModelRequest, Usage
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
        return _read_message(await self._create(client, request))

    async def _create(self, client: AsyncAnthropic, request: ModelRequest) -> Message:
        system, messages = _split(request.messages)
        tools, tool_choice = _structured(request)
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
        tools, tool_choice = _structured(request)
        stream = await client.messages.create(
            model=self.config.model,
            max_tokens=request.max_output_tokens,
            messages=messages,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            stream=True,
        )
        parts: list[str] = []
        model, finish = "", ""
        counts = _Counts()
        async with stream:
            async for event in stream:
                if on_progress is not None:
                    on_progress()
                if event.type == "message_start":
                    model = event.message.model
                    counts.fold(event.message.usage)
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
                elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    parts.append(event.delta.partial_json)  # the forced tool's JSON input
                elif event.type == "message_delta":
                    finish = event.delta.stop_reason or finish
                    counts.fold(event.usage)
        return Reply(text="".join(parts), usage=counts.usage(), model=model, finish_reason=finish)

    def _map_error(self, exc: anthropic.APIError) -> ProviderError:
        provider = self.config.id
        if isinstance(exc, anthropic.APIStatusError):
            message = error_message(exc.body, exc.message)
            return status_error(provider, exc.status_code, message, exc.response.headers)
        if isinstance(exc, anthropic.APIConnectionError):
            return connection_error(provider, exc)
        return ProviderError(provider, None, error_message(exc.body, exc.message))


def _split(messages: list[ChatMessage]) -> tuple[str | Omit, list[MessageParam]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[MessageParam] = []
    for m in messages:
        if m.role == "assistant":
            turns.append({"role": "assistant", "content": m.content})
        elif m.role == "user":
            turns.append({"role": "user", "content": m.content})
    return (system or omit), turns


def _structured(request: ModelRequest) -> tuple[Any, Any]:
    """A JSON-schema reply is a forced call of one tool whose input schema is the schema."""
    if request.response_schema is None:
        return omit, omit
    tool = {
        "name": request.schema_name,
        "description": f"Reply with a {request.schema_name} object.",
        "input_schema": request.response_schema,
    }
    return [tool], {"type": "tool", "name": request.schema_name}


def _read_message(message: Message) -> Reply:
    tool_inputs = [block.input for block in message.content if block.type == "tool_use"]
    if tool_inputs:  # a structured reply: the forced tool's input is the JSON object
        text = json.dumps(tool_inputs[0])
    else:
        text = "".join(block.text for block in message.content if block.type == "text")
    return Reply(
        text=text,
        usage=_Counts().fold(message.usage).usage(),
        model=message.model,
        finish_reason=message.stop_reason or "",
    )


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
