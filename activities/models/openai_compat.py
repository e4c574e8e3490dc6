"""OpenAI chat completions, and every server that speaks them (vLLM, NIM, TensorRT-LLM,
xAI, Ollama, llama.cpp, any "OpenAI-compatible" endpoint), through the official SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI, Omit, omit
from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionStreamOptionsParam,
    ChatCompletionToolParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from activities.models._http import (
    Reply,
    connection_error,
    error_message,
    status_error,
)
from activities.models.base import OnProgress
from activities.models.capabilities import capabilities, response_format
from activities.models.sdk import SdkProvider
from naestro.config.settings import ProviderConfig
from naestro.contracts import ChatMessage, ModelRequest, ToolCall, ToolSpec, Usage
from naestro.errors import ConfigError, ProviderError

DEFAULT_ENDPOINTS = {
    "openai": "https://api.openai.com/v1",
    "xai": "https://api.x.ai/v1",
    "vllm": "http://127.0.0.1:8000/v1",
    "nim": "http://127.0.0.1:8000/v1",
    "tensorrt-llm": "http://127.0.0.1:8000/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
}


class OpenAIProvider(SdkProvider[AsyncOpenAI]):
    """Chat completions over the OpenAI wire protocol; the SDK never retries (Temporal does)."""

    sdk_error = openai.APIError

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        endpoint = config.endpoint or DEFAULT_ENDPOINTS.get(config.engine)
        if endpoint is None:
            raise ConfigError(f"provider {config.id!r}: engine {config.engine!r} needs endpoint")
        self._endpoint = endpoint
        self.caps = capabilities(config)

    def _new_client(self, key: str) -> AsyncOpenAI:
        return AsyncOpenAI(
            base_url=self._endpoint,
            api_key=key,
            max_retries=0,
            timeout=self.config.timeout_seconds,
        )

    async def _plain(self, client: AsyncOpenAI, request: ModelRequest) -> Reply:
        return _read_completion(await self._create(client, request))

    def _limits(self, request: ModelRequest) -> tuple[int | Omit, int | Omit]:
        """``(max_completion_tokens, max_tokens)``: exactly one of them is sent."""
        if self.caps.max_completion_tokens:
            return request.max_output_tokens, omit
        return omit, request.max_output_tokens

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        """What a streamed and a plain request both send, as this engine accepts it."""
        max_completion_tokens, max_tokens = self._limits(request)
        schema = request.response_schema
        return {
            "model": self.config.model,
            "messages": _messages(request.messages),
            "temperature": request.temperature if self.caps.temperature else omit,
            "max_completion_tokens": max_completion_tokens,
            "max_tokens": max_tokens,
            "response_format": (
                response_format(self.caps, request.schema_name, schema) if schema else omit
            ),
            "tools": _tools(request.tools) if request.tools else omit,
            "tool_choice": request.tool_choice if request.tools else omit,
        }

    async def _create(self, client: AsyncOpenAI, request: ModelRequest) -> ChatCompletion:
        completion: ChatCompletion = await client.chat.completions.create(**self._params(request))
        return completion

    async def _stream(
        self, client: AsyncOpenAI, request: ModelRequest, on_progress: OnProgress | None
    ) -> Reply:
        usage_option: ChatCompletionStreamOptionsParam | Omit = (
            {"include_usage": True} if self.caps.streamed_usage else omit
        )
        stream = await client.chat.completions.create(
            **self._params(request), stream=True, stream_options=usage_option
        )
        parts: list[str] = []
        calls = _CallParts()
        model, finish, usage = "", "", Usage()
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:  # the last chunk, thanks to include_usage
                    usage = _usage(chunk.usage)
                delta = ""
                for choice in chunk.choices:
                    delta += choice.delta.content or ""
                    calls.add(choice.delta.tool_calls or [])
                    finish = choice.finish_reason or finish
                parts.append(delta)
                if on_progress is not None:
                    on_progress(delta)
        text = "".join(parts)
        if usage == Usage() and self.caps.tokenizer_endpoint:  # the server sent none
            usage = await self._count_usage(client, request, text)
        return Reply(
            text=text, usage=usage, model=model, finish_reason=finish, tool_calls=calls.done()
        )

    async def _count_usage(self, client: AsyncOpenAI, request: ModelRequest, text: str) -> Usage:
        """Usage from the engine's own tokenizer (llama-cpp-python's /extras/tokenize/count):
        the prompt's messages and the reply, each counted as the model tokenizes them."""
        prompt = "\n".join(m.content for m in request.messages)
        return Usage(
            input_tokens=await self._count(client, prompt) + 4 * len(request.messages),
            output_tokens=await self._count(client, text),
        )

    async def _count(self, client: AsyncOpenAI, text: str) -> int:
        root = self._endpoint.removesuffix("/").removesuffix("/v1")
        reply = await client.post(
            f"{root}/extras/tokenize/count",
            body={"input": text, "model": self.config.model},
            cast_to=httpx.Response,
        )
        count: int = reply.json()["count"]
        return count

    def _map_error(self, exc: openai.APIError) -> ProviderError:
        provider = self.config.id
        if isinstance(exc, openai.APIStatusError):
            message = error_message(exc.body, exc.message)
            return status_error(provider, exc.status_code, message, exc.response.headers)
        if isinstance(exc, openai.APIConnectionError):
            return connection_error(provider, exc)
        # An error object inside the stream, or a reply the SDK could not parse.
        return ProviderError(provider, None, error_message(exc.body, exc.message))


def _messages(messages: list[ChatMessage]) -> list[ChatCompletionMessageParam]:
    out: list[ChatCompletionMessageParam] = []
    for m in messages:
        if m.role == "system":
            out.append({"role": "system", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            calls = [_call_param(c) for c in m.tool_calls]
            out.append({"role": "assistant", "content": m.content or None, "tool_calls": calls})
        elif m.role == "assistant":
            out.append({"role": "assistant", "content": m.content})
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            out.append({"role": "user", "content": m.content})
    return out


def _tools(tools: list[ToolSpec]) -> list[ChatCompletionToolParam]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def _call_param(call: ToolCall) -> ChatCompletionMessageToolCallParam:
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _arguments(raw: str | None) -> dict[str, Any]:
    """A call's JSON arguments; ones that are no JSON object read as none (the tool's own
    validation then tells the model what is missing)."""
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class _CallParts:
    """A streamed reply's tool calls, sent in pieces keyed by index: the first piece of a
    call has its id and name, the following ones more of its JSON arguments."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[str, str, list[str]]] = {}

    def add(self, deltas: list[ChoiceDeltaToolCall]) -> None:
        for d in deltas:
            call_id, name, arguments = self._calls.get(d.index, ("", "", []))
            function = d.function
            if function is not None:
                name = name or function.name or ""
                arguments.append(function.arguments or "")
            self._calls[d.index] = (call_id or d.id or "", name, arguments)

    def done(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=call_id or f"call_{i}", name=name, arguments=_arguments("".join(args)))
            for i, (call_id, name, args) in sorted(self._calls.items())
        )


def _read_completion(completion: ChatCompletion) -> Reply:
    choice = completion.choices[0] if completion.choices else None
    usage = _usage(completion.usage) if completion.usage is not None else Usage()
    calls = [
        ToolCall(id=c.id, name=c.function.name, arguments=_arguments(c.function.arguments))
        for c in ((choice.message.tool_calls or []) if choice else [])
        if c.type == "function"
    ]
    return Reply(
        text=(choice.message.content or "") if choice else "",
        usage=usage,
        model=completion.model,
        finish_reason=(choice.finish_reason or "") if choice else "",
        tool_calls=tuple(calls),
    )


def _usage(usage: CompletionUsage) -> Usage:
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cached_input_tokens=(prompt_details.cached_tokens or 0) if prompt_details else 0,
        reasoning_tokens=((completion_details.reasoning_tokens or 0) if completion_details else 0),
    )
