"""How recalled memory joins a prompt (workflows/steps/memory.with_context): fenced as
data, past answers introduced as verified or not."""

from __future__ import annotations

from naestro.contracts import ChatMessage
from naestro.contracts.memory import Hit, MemoryContext
from workflows.steps.memory import with_context


def _hit(kind: str, verified: bool | None, content: str) -> Hit:
    return Hit.model_validate(
        {
            "chunk_id": 1,
            "document_id": 1,
            "collection": "answers",
            "kind": kind,
            "source": "task:t1",
            "content": content,
            "score": 0.9,
            "verified": verified,
            "created_at": "2026-12-02T09:00:00Z",
        }
    )


def test_past_answers_say_whether_they_were_verified() -> None:
    prompt = [ChatMessage(role="user", content="Write rle_encode.")]
    hits = [
        _hit("answer", True, "def good(): ..."),
        _hit("answer", False, "def doubtful(): ..."),
        _hit("chunk", None, "a design note"),
    ]
    [message] = with_context(prompt, MemoryContext(hits=hits))
    text = message.content
    assert "(verified answer)" in text
    assert "(UNVERIFIED past answer" in text and "def doubtful" in text
    assert text.count("UNVERIFIED") == 1  # the design note is neither
    assert "<<untrusted" in text  # recalled text is fenced as data
