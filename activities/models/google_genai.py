"""Gemini through the official ``google-genai`` SDK (the Gemini API, not Vertex AI)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from activities.models._http import (
    TRANSPORT_ERRORS,
    Reply,
    connection_error,
    require_api_key,
    status_error,
    to_response,
)
from activities.models.base import OnProgress
from naestro.config.settings import ProviderConfig
from naestro.contracts import ChatMessage, ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from naestro.errors import ProviderError

API_VERSION = "v1beta"
MADE_UP_ID = "naestro-call-"  # a call Gemini gave no id
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class GoogleProvider:
    """generateContent / streamGenerateContent; the assistant's turns are role ``model``."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._client: genai.Client | None = None

    async def complete(
        self, request: ModelRequest, on_progress: OnProgress | None = None
    ) -> ModelResponse:
        client = self._ensure_client()
        started = time.monotonic()
        system, contents = _split(request.messages)
        schema = request.response_schema
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            # Structured output: Gemini's JSON mode with the schema (full JSON Schema, so
            # pydantic's $defs/$ref pass as they are).
            response_mime_type="application/json" if schema is not None else None,
            response_json_schema=schema,
            **_tool_config(request),
        )
        try:
            if request.stream:
                reply = await self._stream(client, contents, config, on_progress)
            else:
                response = await client.aio.models.generate_content(
                    model=self.config.model, contents=contents, config=config
                )
                reply = _read([response])
        except genai_errors.APIError as exc:
            raise self._map_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise connection_error(self.config.id, exc) from exc
        return to_response(self.config, reply, started)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client.close()  # the SDK opens a synchronous client as well
            self._client = None

    def _ensure_client(self) -> genai.Client:
        key = require_api_key(self.config)
        if self._client is None:
            options = types.HttpOptions(
                base_url=self.config.endpoint,  # None: the SDK's public endpoint
                api_version=API_VERSION,
                timeout=int(self.config.timeout_seconds * 1000),
                # One attempt: the SDK would otherwise retry 429/5xx itself.
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            # vertexai=False so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot
            # silently redirect the calls.
            self._client = genai.Client(vertexai=False, api_key=key, http_options=options)
        return self._client

    async def _stream(
        self,
        client: genai.Client,
        contents: list[types.Content],
        config: types.GenerateContentConfig,
        on_progress: OnProgress | None,
    ) -> Reply:
        chunks: list[types.GenerateContentResponse] = []
        stream = await client.aio.models.generate_content_stream(
            model=self.config.model, contents=contents, config=config
        )
        async for chunk in stream:
            chunks.append(chunk)
            if on_progress is not None:
                on_progress(_read([chunk]).text)
        return _read(chunks)

    def _map_error(self, exc: genai_errors.APIError) -> ProviderError:
        message = exc.message or str(exc)
        if not exc.code:  # no HTTP status to go by (the SDK's websocket paths)
            return ProviderError(self.config.id, None, message)
        headers = _headers(exc)
        if not any(k.lower() in ("retry-after", "retry-after-ms") for k in headers):
            delay = _rpc_retry_delay(exc.details)
            if delay is not None:
                headers = {"retry-after": delay}
        return status_error(self.config.id, exc.code, message, headers)


def _tool_config(request: ModelRequest) -> dict[str, object]:
    """The offered tools as function declarations (their JSON schemas as they are), and
    whether the model may call them now; the SDK never calls anything itself."""
    if not request.tools:
        return {}
    mode = types.FunctionCallingConfigMode.AUTO
    if request.tool_choice == "none":
        mode = types.FunctionCallingConfigMode.NONE
    return {
        "tools": [types.Tool(function_declarations=[_declaration(t) for t in request.tools])],
        "tool_config": types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=mode)
        ),
        "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
    }


def _declaration(tool: ToolSpec) -> types.FunctionDeclaration:
    return types.FunctionDeclaration(
        name=tool.name, description=tool.description, parameters_json_schema=tool.parameters
    )


def _split(messages: list[ChatMessage]) -> tuple[str, list[types.Content]]:
    """The system text, and the turns (the assistant's are role ``model``): a tool call is a
    ``function_call`` part, its result a ``function_response`` part of a user turn, named
    after the call it answers; consecutive turns of one role are merged."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents: list[types.Content] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "model" if m.role == "assistant" else "user"
        parts = _parts(m, names)
        if contents and contents[-1].role == role:
            contents[-1].parts = [*(contents[-1].parts or []), *parts]
        else:
            contents.append(types.Content(role=role, parts=parts))
    return system, contents


def _parts(m: ChatMessage, names: dict[str, str]) -> list[types.Part]:
    if m.role == "tool":
        response = types.FunctionResponse(
            id=_wire_id(m.tool_call_id),
            name=names.get(m.tool_call_id, ""),
            response={"result": m.content},
        )
        return [types.Part(function_response=response)]
    text = [types.Part(text=m.content)] if m.content or not m.tool_calls else []
    calls = [
        types.Part(
            function_call=types.FunctionCall(id=_wire_id(c.id), name=c.name, args=c.arguments)
        )
        for c in m.tool_calls
    ]
    return [*text, *calls]


def _read(chunks: list[types.GenerateContentResponse]) -> Reply:
    """Fold one response, or a stream's chunks: text is appended, function calls (each
    whole in one chunk) collected, the last usage wins."""
    parts: list[str] = []
    calls: list[ToolCall] = []
    model, finish = "", ""
    meta: types.GenerateContentResponseUsageMetadata | None = None
    for chunk in chunks:
        model = chunk.model_version or model
        meta = chunk.usage_metadata or meta
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is None:
            continue
        if candidate.finish_reason is not None:
            finish = candidate.finish_reason.value
        content_parts = candidate.content.parts if candidate.content else None
        parts.extend(p.text for p in content_parts or [] if p.text and not p.thought)
        for part in content_parts or []:
            if part.function_call is not None:
                calls.append(_call(part.function_call, len(calls)))
    return Reply(
        text="".join(parts),
        usage=_usage(meta),
        model=model,
        finish_reason=finish,
        tool_calls=tuple(calls),
    )


def _call(call: types.FunctionCall, n: int) -> ToolCall:
    """Gemini gives a call an id only sometimes: one is made up from its position (and
    not sent back, see _wire_id)."""
    call_id = call.id or f"{MADE_UP_ID}{n}"
    return ToolCall(id=call_id, name=call.name or "", arguments=call.args or {})


def _wire_id(call_id: str) -> str | None:
    return None if call_id.startswith(MADE_UP_ID) else call_id


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    """Gemini counts thoughts apart from candidates; both are billed as output."""
    if meta is None:
        return Usage()
    thoughts = meta.thoughts_token_count or 0
    return Usage(
        input_tokens=meta.prompt_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + thoughts,
        cached_input_tokens=meta.cached_content_token_count or 0,
        reasoning_tokens=thoughts,
    )


def _headers(exc: genai_errors.APIError) -> Mapping[str, str]:
    headers = getattr(exc.response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _rpc_retry_delay(details: object) -> str | None:
    """Gemini's 429 names its wait in a google.rpc.RetryInfo detail ("retryDelay": "2s")."""
    error = details.get("error", details) if isinstance(details, Mapping) else None
    entries = error.get("details") if isinstance(error, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and str(entry.get("@type", "")).endswith("RetryInfo"):
            match = _RETRY_DELAY.match(str(entry.get("retryDelay", "")))
            if match:
                return match.group(1)
    return None
