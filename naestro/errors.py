"""Naestro's error tree: shallow, with the non-retryable types listed once.

Activities raise ``temporalio.exceptions.ApplicationError`` whose ``type`` is one of the
class names below, so Temporal's retry policy and the workflow's failure taxonomy can tell
them apart without importing provider SDKs.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError


class NaestroError(Exception):
    """Base of every error Naestro raises on purpose."""


class ConfigError(NaestroError):
    """temporal.yaml or the environment is wrong; the message names the key and the file."""


class ProviderError(NaestroError):
    """A model provider answered with an error."""

    def __init__(
        self,
        provider_id: str,
        status: int | None,
        message: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.provider_id = provider_id
        self.status = status
        self.retry_after = retry_after
        where = f"HTTP {status}" if status is not None else "connection"
        super().__init__(f"provider {provider_id!r} failed ({where}): {message}")


class ProviderRequestRejected(ProviderError):
    """4xx other than 408/409/429: retrying the same request cannot help."""


class StructuredOutputError(NaestroError):
    """A model's reply did not validate against the schema its role needs."""


class SandboxError(NaestroError):
    """The sandbox itself could not run (not: the code under test failed)."""


class WorkspaceError(NaestroError):
    """A task's workspace cannot be used as given: its archive is unsafe or unreadable, a
    dependency is not a plain requirement, or its blob is not in the blob store."""


class PiiScanError(NaestroError):
    """The PII scanner failed; callers fail closed."""


class UnknownProviderError(NaestroError):
    """A provider id that temporal.yaml does not declare."""


class NoProviderError(NaestroError):
    """No provider the policy names can serve a role right now (keys unset, endpoints down)."""


class NoProviderReady(NoProviderError):
    """No provider can serve a role *yet*: every one skipped is down, loading, behind an
    open breaker or failed this call. The workflow waits (a durable timer) and routes
    again, instead of failing the task while a local engine restarts."""


class UnknownPolicyError(NaestroError):
    """A policy name that temporal.yaml does not declare."""


class PiiPolicyBlocked(NaestroError):
    """The tenant's PII policy forbids sending this text to that provider's location."""


class BudgetExhausted(NaestroError):
    """No budget (tokens, USD, GPU-seconds or wall time) is left for the next call."""


class GgufError(NaestroError):
    """A model file is not well-formed GGUF (bad magic, version, bounds, or truncated)."""


class ModelWeightsError(NaestroError):
    """A bundled model's weights are missing, incomplete or not the file they claim to be."""


class DeploymentError(NaestroError):
    """A worker deployment or version that does not exist, or a routing change the Temporal
    server refused (naestro/deployments.py)."""


class SteerRejected(NaestroError):
    """A research job's steering validator refused a command (its message says why); the
    command never entered the job's history."""


class ToolServerError(NaestroError):
    """An MCP server could not be started or reached, or broke the protocol (retried; a
    tool's own error is a result, not this)."""


class PayloadTooLarge(NaestroError):
    """A payload over Temporal's size limit that cannot travel by reference (no database
    for external payloads): resending it cannot help."""


class PayloadMissing(NaestroError):
    """A payload kept by reference is gone from the blob store (or no database is set to
    fetch it from): the workflow fails rather than retrying a read that cannot succeed."""


# Retrying any of these repeats the same outcome.
NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = (
    ConfigError.__name__,
    ProviderRequestRejected.__name__,
    StructuredOutputError.__name__,
    UnknownProviderError.__name__,
    UnknownPolicyError.__name__,
    NoProviderError.__name__,
    NoProviderReady.__name__,  # the workflow waits and routes again, on a durable timer
    PiiScanError.__name__,
    PiiPolicyBlocked.__name__,
    BudgetExhausted.__name__,
    GgufError.__name__,
    ModelWeightsError.__name__,
    DeploymentError.__name__,
    WorkspaceError.__name__,
    PayloadTooLarge.__name__,
    PayloadMissing.__name__,
)

RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable_status(status: int | None) -> bool:
    return status is None or status in RETRYABLE_STATUS or status >= 500


def to_application_error(exc: NaestroError) -> ApplicationError:
    """Map a Naestro error to the ApplicationError Temporal's retry logic reads."""
    name = type(exc).__name__
    if isinstance(exc, ProviderError):
        rejected = isinstance(exc, ProviderRequestRejected)  # e.g. a key that is not set
        retryable = not rejected and is_retryable_status(exc.status)
        if not retryable and not rejected:
            name = ProviderRequestRejected.__name__
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(
            str(exc),
            {"provider": exc.provider_id, "status": exc.status},
            type=name,
            non_retryable=not retryable,
            next_retry_delay=delay,
        )
    return ApplicationError(str(exc), type=name, non_retryable=name in NON_RETRYABLE_ERROR_TYPES)
