"""What each audience may see of a task's PII: the one place this is decided.

Audiences: a model provider (by location, under the tenant's policy: block / redact /
allow), a notification (Slack-style approvals), the response cache, memory, and logs.
Everything that sends task text outside the workflow asks here first; nothing else
re-derives the policy. Pure: workflows, activities and the API import it.

Placeholders (``<EMAIL_1>``) stand for the prompt's PII. A provider under ``redact`` gets
placeholders and its reply is restored before the workflow keeps it; notifications and
memory get placeholders only (nothing restores them); logs get no task text at all.

Text from outside the task (retrieved documents, other tasks' memory) is masked for good:
PII the detectors find becomes ``[EMAIL]``, and other tasks' placeholders ``<EMAIL_3>``
become ``[EMAIL]`` too, so :func:`restore` can never put this task's PII into them. The
response cache keeps a result sealed (encrypted) or, without a key, only a result free of
PII.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from naestro.contracts import (
    ChatMessage,
    Location,
    PiiAction,
    PiiScanResult,
    TaskResult,
    ToolCall,
)
from naestro.errors import PiiPolicyBlocked
from naestro.pii.redaction import pseudonymize, restore, scan

CacheForm = Literal["sealed", "plain", "none"]
_PLACEHOLDER = re.compile(r"<([A-Z_]+)_\d+>")  # redaction's placeholders, e.g. <EMAIL_1>


def provider_action(
    cloud: PiiAction, local: PiiAction, location: Location, has_pii: bool
) -> PiiAction:
    """The tenant's action for a provider at ``location``: text without PII is allowed."""
    if not has_pii:
        return "allow"
    return cloud if location == "cloud" else local


def action_for(pii: PiiScanResult, location: Location) -> PiiAction:
    """The action a task's scan resolved for providers at ``location``."""
    return provider_action(pii.cloud_action, pii.local_action, location, bool(pii.findings))


def blocked_reason(
    pii: PiiScanResult,
    location: Location,
    provider_id: str,
    tenant: str,
    audience: str = "provider",
) -> str:
    kinds = ", ".join(sorted({f.entity_type for f in pii.findings}))
    return (
        f"PII policy of tenant {tenant!r} blocks sending {kinds} "
        f"to {location} {audience} {provider_id}"
    )


def for_provider(
    pii: PiiScanResult,
    location: Location,
    provider_id: str,
    tenant: str,
    messages: Sequence[ChatMessage],
) -> tuple[list[ChatMessage], bool]:
    """The messages a provider may see, and whether its reply must be restored.

    Raises PiiPolicyBlocked when the tenant's policy blocks PII for that location (routing
    skips such providers first, so this is the fail-closed backstop)."""
    action = action_for(pii, location)
    if action == "block":
        raise PiiPolicyBlocked(blocked_reason(pii, location, provider_id, tenant))
    if action == "redact" and pii.mapping:
        return [_pseudonymized(m, pii.mapping) for m in messages], True
    return list(messages), False


def _pseudonymized(message: ChatMessage, mapping: Mapping[str, str]) -> ChatMessage:
    """A message with the prompt's PII as placeholders: its text and its tool calls'."""
    update: dict[str, Any] = {"content": pseudonymize(message.content, mapping)}
    if message.tool_calls:
        update["tool_calls"] = [
            _arguments_mapped(c, lambda t: pseudonymize(t, mapping)) for c in message.tool_calls
        ]
    return message.model_copy(update=update)


def from_provider(text: str, pii: PiiScanResult, redacted: bool) -> str:
    """A provider's reply as the workflow keeps it: placeholders restored when it had them."""
    return restore(text, pii.mapping) if redacted else text


def calls_from_provider(
    calls: list[ToolCall], pii: PiiScanResult, redacted: bool
) -> list[ToolCall]:
    """A reply's tool calls as the workflow keeps them: placeholders in their arguments
    restored when the provider saw placeholders (the tool's own policy applies next)."""
    if not redacted or not pii.mapping:
        return calls
    return [_arguments_mapped(c, lambda t: restore(t, pii.mapping)) for c in calls]


def for_tool(
    scan: PiiScanResult, location: Location, server: str, tenant: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """The arguments a tool server at ``location`` may get, from the scan of their text:
    placeholders for PII under ``redact``. Raises PiiPolicyBlocked under ``block``."""
    action = action_for(scan, location)
    if action == "block":
        raise PiiPolicyBlocked(blocked_reason(scan, location, server, tenant, "tool server"))
    if action == "redact" and scan.mapping:
        redacted: dict[str, Any] = _strings(arguments, lambda t: pseudonymize(t, scan.mapping))
        return redacted
    return arguments


def _arguments_mapped(call: ToolCall, change: Callable[[str], str]) -> ToolCall:
    return call.model_copy(update={"arguments": _strings(call.arguments, change)})


def _strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` (JSON data) with ``change`` applied to every string in it, keys too."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(k): _strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, change) for v in value]
    return value


def masked(text: str) -> str:
    """Every PII span the detectors find in ``text`` replaced by ``[TYPE]``, irreversibly."""
    pieces: list[str] = []
    cursor = 0
    for f in scan(text):
        pieces += [text[cursor : f.start], f"[{f.entity_type}]"]
        cursor = f.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def for_context(text: str) -> str:
    """Retrieved text (documents, other tasks) as a provider may see it in a prompt: PII
    masked as ``[TYPE]``, placeholders of other tasks too (they are not this task's)."""
    return masked(_PLACEHOLDER.sub(lambda m: f"[{m[1]}]", text))


def for_notification(text: str, pii: PiiScanResult | None) -> str:
    """Text leaving Naestro for people outside the task (Slack previews): the prompt's PII
    as its placeholders, any other PII found masked. ``None`` (no scan at hand): masked."""
    return masked(pseudonymize(text, pii.mapping) if pii and pii.mapping else text)


def for_memory(text: str, pii: PiiScanResult | None) -> str:
    """Text memory may keep or be asked (write-back, recall queries): placeholders, never
    raw PII. ``None`` (the caller has no scan): detected PII masked, failing closed."""
    if pii is None:
        return masked(text)
    return pseudonymize(text, pii.mapping) if pii.mapping else text


def for_cache(sealed: bool, texts: Iterable[str]) -> CacheForm:
    """How the response cache may keep a result: ``sealed`` (ciphertext) whenever it can
    encrypt; without a key, ``plain`` only when none of ``texts`` (the prompt, or
    :func:`result_texts`) holds PII, else ``none``: not cached at all."""
    if sealed:
        return "sealed"
    return "none" if any(scan(t) for t in texts) else "plain"


def result_texts(result: TaskResult) -> list[str]:
    """The task text a result carries: what :func:`for_cache` must find free of PII.
    A new free-text field of TaskResult belongs here."""
    verdict = [result.verdict.rationale] if result.verdict else []
    report = (
        [result.verification.output, result.verification.summary] if result.verification else []
    )
    artifacts = [a.content for a in result.artifacts]
    return [result.answer, result.plan, result.reason, *verdict, *report, *artifacts]
