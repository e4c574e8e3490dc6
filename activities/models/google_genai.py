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
from naestro.contracts import ChatMessage, ModelRequest, ModelResponse, Usage
from naestro.errors import ProviderError

API_VERSION = "v1beta"
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
            if on_progress is not None:
                on_progress()
            chunks.append(chunk)
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


def _split(messages: list[ChatMessage]) -> tuple[str, list[types.Content]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    contents = [
        types.Content(
            role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)]
        )
        for m in messages
        if m.role != "system"
    ]
    return system, contents


def _read(chunks: list[types.GenerateContentResponse]) -> Reply:
    """Fold one response, or a stream's chunks: text is appended, the last usage wins."""
    parts: list[str] = []
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
    return Reply(text="".join(parts), usage=_usage(meta), model=model, finish_reason=finish)


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
