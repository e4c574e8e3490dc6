"""A research job's prompts (plan questions, answer one from its sources, judge progress,
write the report) and the citation bookkeeping around them.

The operator's goal and own questions go in as they are; everything else (the planner's
questions, findings, retrieved text) is fenced as untrusted data (naestro.fencing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from naestro.contracts import ChatMessage
from naestro.contracts.research import Citation, Finding, FindingHead, Question
from naestro.contracts.text import clean_prompt
from naestro.fencing import UNTRUSTED_NOTICE, fence
from naestro.prompts import JUDGE_FORMAT

MAX_SOURCE_CHARS = 1200
QUOTE_CHARS = 300
_SOURCE_MARK = re.compile(r"\[S(\d+)\]")


@dataclass(frozen=True)
class Source:
    """A retrieved passage offered to the implementer as [S<n>]."""

    citation: Citation
    content: str


def _msgs(system: str, user: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=f"{system}\n\n{UNTRUSTED_NOTICE}"),
        ChatMessage(role="user", content=user),
    ]


def _question(q: Question) -> str:
    return q.text if q.source == "user" else fence(q.text, "planner question")


def _heads(heads: list[FindingHead]) -> str:
    if not heads:
        return "(none yet)"
    lines = [f"{h.question_id} (iteration {h.iteration}): {h.headline}" for h in heads]
    return fence("\n".join(lines), "research findings")


def plan(
    goal: str, questions: list[Question], heads: list[FindingHead], want: int
) -> list[ChatMessage]:
    asked = "\n".join(f"{q.id} ({q.status}): {q.text}" for q in questions[-40:])
    return _msgs(
        f"You plan a research job. Propose up to {want} new, specific questions whose "
        "answers bring the goal closer, none repeating a question already asked. Reply with "
        'one JSON object only: {"questions": ["...", ...]}; an empty list when the goal '
        "needs nothing more.",
        f"Goal:\n{goal}\n\nQuestions asked so far:\n"
        f"{fence(asked, 'research questions') if asked else '(none)'}\n\n"
        f"Recent findings:\n{_heads(heads)}",
    )


def answer(goal: str, question: Question, sources: list[Source]) -> list[ChatMessage]:
    listed = "\n".join(
        f"[S{n}] {s.citation.source}:\n{fence(s.content[:MAX_SOURCE_CHARS], 'retrieved')}"
        for n, s in enumerate(sources, 1)
    )
    return _msgs(
        "You answer one question of a research job from the numbered sources given. Cite "
        "each source you use as [S1], [S2] right after the claim it supports. Where the "
        "sources say nothing, answer from your own knowledge and say so. One or two "
        "paragraphs.",
        f"Research goal:\n{goal}\n\nQuestion {question.id}:\n{_question(question)}\n\n"
        f"Sources:\n{listed or '(none found in memory)'}",
    )


def cited(text: str, sources: list[Source]) -> list[Citation]:
    """The sources an answer cites ([S<n>]), in order of first citation; the model's own
    knowledge when it cites none."""
    numbers = dict.fromkeys(int(n) for n in _SOURCE_MARK.findall(text))
    chosen = [sources[n - 1].citation for n in numbers if 1 <= n <= len(sources)]
    return chosen or [Citation(source="model")]


def task_prompt(goal: str, question: Question) -> str:
    """A question gathered as a child task (gather_with_tasks): the task's prompt."""
    return clean_prompt(  # the question may be the planner's: model-made text
        f"Research goal:\n{goal}\n\nAnswer this question of it precisely, naming your "
        f"sources:\n{_question(question)}"
    )


def judge(goal: str, heads: list[FindingHead], open_questions: list[Question]) -> list[ChatMessage]:
    pending = "\n".join(f"{q.id}: {q.text}" for q in open_questions[:20])
    return _msgs(
        "You are the judge of a research job. Score how completely the findings so far "
        "answer the goal: 0 nothing yet, 1 fully answered with nothing important left open. "
        f"Accept when the goal is answered, revise otherwise. {JUDGE_FORMAT}",
        f"Goal:\n{goal}\n\nFindings so far:\n{_heads(heads)}\n\nOpen questions:\n"
        f"{fence(pending, 'research questions') if pending else '(none)'}",
    )


def numbered(findings: list[Finding]) -> tuple[list[Citation], list[list[int]]]:
    """The report's citations, each once and numbered from 1, and each finding's numbers."""
    order: dict[tuple[str, str], int] = {}
    citations: list[Citation] = []
    per_finding: list[list[int]] = []
    for finding in findings:
        numbers = []
        for c in finding.citations:
            key = (c.source, c.ref)
            if key not in order:
                citations.append(c)
                order[key] = len(citations)
            numbers.append(order[key])
        per_finding.append(list(dict.fromkeys(numbers)))
    return citations, per_finding


def _finding_blocks(findings: list[Finding], numbers: list[list[int]]) -> str:
    return "\n\n".join(
        f"Finding {i} ({f.question_id}, sources {', '.join(f'[{n}]' for n in nums) or 'none'}):"
        f"\n{fence(f'Q: {f.question}{chr(10)}{f.text}', 'research finding')}"
        for i, (f, nums) in enumerate(zip(findings, numbers, strict=True), 1)
    )


def report(goal: str, findings: list[Finding]) -> list[ChatMessage]:
    _, numbers = numbered(findings)
    return _msgs(
        "You write the final report of a research job from its findings: a short summary "
        "that answers the goal, then the key points with their evidence. Cite sources as "
        "[n] with the numbers given for each finding, and only those. Do not add a list of "
        "citations: it is appended for you.",
        f"Goal:\n{goal}\n\n{_finding_blocks(findings, numbers)}",
    )


def citations_list(citations: list[Citation]) -> str:
    lines = []
    for n, c in enumerate(citations, 1):
        ref = f" ({c.ref})" if c.ref else ""
        quote = f': "{c.quote[:QUOTE_CHARS]}"' if c.quote else ""
        lines.append(f"[{n}] {c.source}{ref}{quote}")
    return "Citations:\n" + "\n".join(lines)


def with_citations(text: str, citations: list[Citation]) -> str:
    return f"{text.rstrip()}\n\n{citations_list(citations)}" if citations else text


def assembled(goal: str, findings: list[Finding], why: str) -> str:
    """A report without a model call (the budget is spent): the findings as stored, with
    their citations numbered."""
    if not findings:
        return f"Goal: {goal}\n\nNo findings were gathered ({why})."
    citations, numbers = numbered(findings)
    parts = [f"Goal: {goal}", f"Written from the stored findings without a model ({why})."]
    for f, nums in zip(findings, numbers, strict=True):
        marks = "".join(f"[{n}]" for n in nums)
        parts.append(f"{f.question_id}: {f.question}\n{f.text.strip()} {marks}".rstrip())
    return with_citations("\n\n".join(parts), citations)
