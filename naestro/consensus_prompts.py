"""Prompts of the consensus roles: proposer feedback, critic, synthesizer, judge. Pure."""

from __future__ import annotations

import json

from naestro.contracts import ChatMessage, Critique, TaskKind
from naestro.prompts import JUDGE_FORMAT

CRITIC_FORMAT = (
    'Reply with one JSON object only: {"reviews": [{"proposal": <1-based number>, '
    '"issues": [{"severity": "low"|"medium"|"high"|"critical", "description": "..."}], '
    '"scores": {"correctness": <0..1>, "completeness": <0..1>, "clarity": <0..1>}}]}, '
    "one review per proposal."
)


def _msgs(system: str, user: str) -> list[ChatMessage]:
    return [ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)]


def _numbered(proposals: list[str]) -> str:
    return "\n\n".join(f"### Proposal {i}\n{p}" for i, p in enumerate(proposals, 1))


def with_feedback(messages: list[ChatMessage], answer: str, rationale: str) -> list[ChatMessage]:
    """A further round's proposer prompt: the last synthesis and why it fell short."""
    note = f"A previous attempt:\n{answer}\n\nWhy it was not good enough:\n{rationale}"
    return [*messages, ChatMessage(role="user", content=note + "\n\nPropose a better answer.")]


def critic(kind: TaskKind, task: str, proposals: list[str]) -> list[ChatMessage]:
    return _msgs(
        f"You are a critic on a multi-model team solving a {kind} task. Review every "
        f"proposal: list its issues with a severity and score each criterion. {CRITIC_FORMAT}",
        f"Task:\n{task}\n\n{_numbered(proposals)}",
    )


def synthesizer(
    kind: TaskKind, task: str, proposals: list[str], critiques: list[Critique]
) -> list[ChatMessage]:
    reviews = json.dumps([c.model_dump(mode="json") for c in critiques], indent=1)
    return _msgs(
        f"You are the synthesizer of a multi-model team solving a {kind} task. Merge the "
        "best parts of the proposals into one answer, fixing every issue the critics "
        "found. Answer in the format the task asks for, with no commentary about the "
        "proposals.",
        f"Task:\n{task}\n\n{_numbered(proposals)}\n\nCritiques:\n{reviews}",
    )


def choose(kind: TaskKind, task: str, proposals: list[str]) -> list[ChatMessage]:
    """The judge's pick among proposals their tests rank equally."""
    return _msgs(
        f"You are the judge of a {kind} task. The proposals below did equally well on the "
        "tests. Pick the one most likely to be fully correct. Reply with one JSON object "
        'only: {"proposal": <its number>, "rationale": "<one sentence>"}.',
        f"Task:\n{task}\n\n{_numbered(proposals)}",
    )


def judge(kind: TaskKind, task: str, answer: str) -> list[ChatMessage]:
    return _msgs(
        f"You are the judge. Assess whether the answer fully and correctly solves the "
        f"{kind} task. {JUDGE_FORMAT}",
        f"Task:\n{task}\n\nAnswer:\n{answer}",
    )
