"""How recalled memory joins a prompt (workflows/steps/memory.with_context): fenced as
data; verified past answers say so, unverified ones stay out."""

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


def test_only_verified_past_answers_join_the_prompt() -> None:
    prompt = [ChatMessage(role="user", content="Write rle_encode.")]
    hits = [
        _hit("answer", True, "def good(): ..."),
        _hit("answer", False, "def doubtful(): ..."),
        _hit("chunk", None, "a design note"),
    ]
    [message] = with_context(prompt, MemoryContext(hits=hits))
    text = message.content
    assert "[1] " in text and "(verified answer)" in text and "def good" in text
    assert "def doubtful" not in text and "[2] " not in text
    assert "[3] " in text and "a design note" in text  # numbered as recalled
    assert "<<untrusted" in text  # recalled text is fenced as data
    only_doubtful = MemoryContext(hits=[hits[1]])
    assert with_context(prompt, only_doubtful) == prompt
