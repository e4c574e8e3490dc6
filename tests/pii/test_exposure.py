"""What notifications, memory, retrieved context and the response cache may see of PII."""

from __future__ import annotations

from naestro.contracts import Artifact, JudgeVerdict, TaskResult
from naestro.pii import exposure, redact, restore, scan

EMAIL, PHONE = "jane.roe@example.org", "+1 415 555 0142"
PROMPT = f"Write to {EMAIL} and call {PHONE} about the refund."


def test_notification_carries_the_prompts_placeholders_and_masks_other_pii() -> None:
    pii = redact(PROMPT, scan(PROMPT))
    plan = f"1. Email {EMAIL}. 2. Call {PHONE}. 3. Copy ops@corp.example.com."
    sent = exposure.for_notification(plan, pii)
    assert sent == "1. Email <EMAIL_1>. 2. Call <PHONE_1>. 3. Copy [EMAIL]."
    assert (
        exposure.for_notification(plan, None)
        == "1. Email [EMAIL]. 2. Call [PHONE]. 3. Copy [EMAIL]."
    )


def test_memory_gets_placeholders_or_masks_without_a_scan() -> None:
    pii = redact(PROMPT, scan(PROMPT))
    assert exposure.for_memory(PROMPT, pii) == pii.redacted
    assert (
        exposure.for_memory(PROMPT, None) == "Write to [EMAIL] and call [PHONE] about the refund."
    )
    assert exposure.for_memory("no pii here", None) == "no pii here"


def test_context_masks_pii_and_other_tasks_placeholders_so_restore_cannot_fill_them() -> None:
    retrieved = f"Past task: mail <EMAIL_1> (its owner); contact {EMAIL}, DOB <DATE_OF_BIRTH_2>."
    masked = exposure.for_context(retrieved)
    assert masked == "Past task: mail [EMAIL] (its owner); contact [EMAIL], DOB [DATE_OF_BIRTH]."
    # A reply that quotes the context is restored with this task's mapping: nothing leaks in.
    this_task = redact(PROMPT, scan(PROMPT))
    assert restore(masked, this_task.mapping) == masked
    assert EMAIL not in restore(masked, this_task.mapping)


def test_cache_seals_when_it_can_and_keeps_only_pii_free_plaintext_otherwise() -> None:
    assert exposure.for_cache(True, [PROMPT]) == "sealed"
    assert exposure.for_cache(False, [PROMPT]) == "none"
    assert exposure.for_cache(False, ["What is six times seven?", "42"]) == "plain"


def test_result_texts_cover_every_free_text_field() -> None:
    result = TaskResult(
        task_id="t",
        status="succeeded",
        answer="a",
        plan="p",
        reason="r",
        artifacts=[Artifact(name="x.py", content="c")],
        verdict=JudgeVerdict(verdict="accept", score=1.0, rationale=f"mentions {EMAIL}"),
    )
    texts = exposure.result_texts(result)
    assert {"a", "p", "r", "c", f"mentions {EMAIL}"} <= set(texts)
    assert exposure.for_cache(False, texts) == "none"
