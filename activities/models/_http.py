"""Plumbing every provider adapter shares: API keys, error mapping, Retry-After, the reply.

Temporal owns retries (STYLE.md rule 11), so the adapters turn each SDK failure into a
:class:`~naestro.errors.ProviderError` carrying the HTTP status and the server's
``Retry-After``; :func:`naestro.errors.to_application_error` does the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import httpx2

from activities.models.base import cost_usd
from naestro.config.settings import CLOUD_ENGINES, ProviderConfig
from naestro.contracts import ModelResponse, ToolCall, Usage
from naestro.errors import ProviderError, ProviderRequestRejected, is_retryable_status

MAX_MESSAGE_CHARS = 500

# Transport failures under the SDKs' own error types. google-genai lets them through
# unwrapped; it runs on httpx2 by default and on httpx when GOOGLE_GENAI_HTTP_CLIENT says so.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)


@dataclass(frozen=True)
class Reply:
    """What an adapter read from the wire, before pricing and timing."""

    text: str
    usage: Usage
    model: str = ""
    finish_reason: str = ""
    tool_calls: tuple[ToolCall, ...] = ()  # the calls the model asked for (native tools)


def to_response(
    config: ProviderConfig, reply: Reply, started: float, *, scripted: bool = False
) -> ModelResponse:
    """Price and time a reply; ``started`` is the call's ``time.monotonic()``."""
    return ModelResponse(
        provider_id=config.id,
        model=reply.model or config.model,
        text=reply.text,
        usage=reply.usage,
        cost_usd=cost_usd(config, reply.usage),
        latency_ms=round((time.monotonic() - started) * 1000, 3),
        finish_reason=reply.finish_reason,
        scripted=scripted,
        tool_calls=list(reply.tool_calls),
    )


def require_api_key(config: ProviderConfig) -> str | None:
    """The provider's key; a cloud engine without one fails before any network call."""
    key = config.api_key()
    if key or config.engine not in CLOUD_ENGINES:
        return key
    if config.api_key_env is None:
        reason = f"engine {config.engine!r} needs api_key_env naming its key's variable"
    else:
        reason = f"{config.api_key_env} is not set"
    raise ProviderRequestRejected(config.id, None, reason)


def status_error(
    provider_id: str, status: int, message: str, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """Map an HTTP error status: 4xx other than 408/409/429 cannot succeed on retry."""
    text = clip(message)
    if 200 <= status < 300:
        # An error event inside a 200 stream (the SDKs raise those with the stream's
        # status): the server gave up mid-reply, which is as transient as a dropped line.
        return ProviderError(provider_id, None, f"error inside the stream: {text}")
    retry_after = retry_after_seconds(headers)
    if status < 500 and not is_retryable_status(status):
        return ProviderRequestRejected(provider_id, status, text, retry_after=retry_after)
    return ProviderError(provider_id, status, text, retry_after=retry_after)


def connection_error(provider_id: str, exc: BaseException) -> ProviderError:
    """No HTTP status: refused, reset, timed out. Always worth retrying."""
    detail = str(exc) or type(exc).__name__
    return ProviderError(provider_id, None, clip(f"{type(exc).__name__}: {detail}"))


def error_message(body: object, fallback: str) -> str:
    """The human part of a JSON error body (``{"error": {"message": ...}}`` and kin)."""
    inner = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(inner, Mapping):
        message = inner.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(inner, str) and inner:
        return inner
    return fallback


def clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    Unparseable or negative values count as absent.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _non_negative(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _non_negative(raw)
    return seconds if seconds is not None else _seconds_until(raw)


def _non_negative(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _seconds_until(http_date: str) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
