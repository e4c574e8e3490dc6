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
from collections.abc import Iterable, Sequence
from typing import Literal

from naestro.contracts import ChatMessage, Location, PiiAction, PiiScanResult, TaskResult
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


def blocked_reason(pii: PiiScanResult, location: Location, provider_id: str, tenant: str) -> str:
    kinds = ", ".join(sorted({f.entity_type for f in pii.findings}))
    return (
        f"PII policy of tenant {tenant!r} blocks sending {kinds} "
        f"to {location} provider {provider_id}"
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
        return [
            m.model_copy(update={"content": pseudonymize(m.content, pii.mapping)}) for m in messages
        ], True
    return list(messages), False


def from_provider(text: str, pii: PiiScanResult, redacted: bool) -> str:
    """A provider's reply as the workflow keeps it: placeholders restored when it had them."""
    return restore(text, pii.mapping) if redacted else text


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
