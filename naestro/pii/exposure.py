"""What each audience may see of a task's PII: the one place this is decided.

Audiences: a model provider (by location, under the tenant's policy: block / redact /
allow), a notification (Slack-style approvals), the response cache, memory, and logs.
Everything that sends task text outside the workflow asks here first; nothing else
re-derives the policy. Pure: workflows, activities and the API import it.

Placeholders (``<EMAIL_1>``) stand for the prompt's PII. A provider under ``redact`` gets
placeholders and its reply is restored before the workflow keeps it; notifications and
memory get placeholders only (nothing restores them); logs get no task text at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from naestro.contracts import ChatMessage, Location, PiiAction, PiiScanResult
from naestro.errors import PiiPolicyBlocked
from naestro.pii.redaction import pseudonymize, restore


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


def for_notification(text: str, pii: PiiScanResult) -> str:
    """Text leaving Naestro for people outside the task (Slack previews): placeholders."""
    return pseudonymize(text, pii.mapping) if pii.mapping else text


def for_memory(text: str, pii: PiiScanResult) -> str:
    """Text memory may keep (write-back, recall queries): placeholders, never raw PII."""
    return pseudonymize(text, pii.mapping) if pii.mapping else text
