"""What one model call tells telemetry: a ``chat <model>`` span (GenAI attributes, no
prompt or reply text) and the call's metrics (latency, outcome, tokens, USD, GPU-seconds)
by provider, role and tenant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.trace import Span, StatusCode

from naestro.config.settings import ProviderConfig
from naestro.contracts import ModelRequest, ModelResponse
from naestro.errors import ProviderError, ProviderRequestRejected
from naestro.telemetry import catalogue, metrics, tracing


@dataclass
class CallWatch:
    span: Span
    config: ProviderConfig
    request: ModelRequest
    started: float

    def done(self, response: ModelResponse) -> None:
        seconds = time.monotonic() - self.started
        usage, provider = response.usage, self.config.id
        tenant = self.request.tenant or "default"
        gpu_seconds = seconds * self.config.gpus
        tracing.record_reply(
            self.span,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            finish_reason=response.finish_reason,
            cost_usd=response.cost_usd,
            gpu_seconds=gpu_seconds,
        )
        role = self.request.role
        metrics.count(catalogue.MODEL_CALLS, provider=provider, role=role, outcome="ok")
        metrics.observe(catalogue.MODEL_CALL_SECONDS, seconds, provider=provider, role=role)
        tokens = catalogue.MODEL_TOKENS
        metrics.count(
            tokens, usage.input_tokens, provider=provider, tenant=tenant, direction="input"
        )
        metrics.count(
            tokens, usage.output_tokens, provider=provider, tenant=tenant, direction="output"
        )
        metrics.count(catalogue.MODEL_COST, response.cost_usd, provider=provider, tenant=tenant)
        metrics.count(catalogue.MODEL_GPU_SECONDS, gpu_seconds, provider=provider)

    def failed(self, exc: BaseException) -> None:
        outcome = _outcome(exc)
        self.span.set_status(StatusCode.ERROR, type(exc).__name__)
        self.span.set_attribute("error.type", type(exc).__name__)
        metrics.count(
            catalogue.MODEL_CALLS,
            provider=self.config.id,
            role=self.request.role,
            outcome=outcome,
        )


@contextmanager
def watch(config: ProviderConfig, request: ModelRequest) -> Iterator[CallWatch]:
    """Around one call: ``done(response)`` on success; a raised error is counted."""
    with tracing.model_call_span(
        engine=config.engine,
        model=config.model,
        provider=config.id,
        role=request.role,
        phase=request.phase,
        tenant=request.tenant or "default",
        max_tokens=request.max_output_tokens,
        temperature=request.temperature,
    ) as span:
        call = CallWatch(span, config, request, time.monotonic())
        try:
            yield call
        except BaseException as exc:
            call.failed(exc)
            raise


def _outcome(exc: BaseException) -> str:
    """ok | error | timeout | rejected (the provider refused the request) | cancelled."""
    if isinstance(exc, ProviderRequestRejected):
        return "rejected"
    if isinstance(exc, TimeoutError) or (isinstance(exc, ProviderError) and exc.status == 408):
        return "timeout"
    if type(exc).__name__ == "CancelledError":
        return "cancelled"
    return "error"
