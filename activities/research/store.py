"""ResearchStore: a research job's findings and reports in Postgres (004_research.sql).

The workflow keeps only row ids and heads (``FindingHead``); the texts stay here. Saves are
upserts on their natural keys, (job, iteration, question) and (job, iteration, kind), so
an activity retried after a crash returns the ids it wrote the first time. The CLI and the
gateway read a job's reports and findings through the same methods.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from naestro.contracts.research import (
    Citation,
    Finding,
    FindingHead,
    FindingsQuery,
    SavedReport,
    SaveFindings,
    StoredReport,
)
from naestro.contracts.text import clean_text
from naestro.errors import NaestroError

HEADLINE_CHARS = 160

_SAVE_FINDINGS = """
INSERT INTO research_findings (job_id, tenant, iteration, question_id, question, text,
                               citations)
SELECT $1, $2, $3, f.question_id, f.question, f.text, f.citations::jsonb
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
     AS f(question_id, question, text, citations, ord)
ORDER BY f.ord
ON CONFLICT (job_id, iteration, question_id) DO UPDATE SET question = excluded.question,
    text = excluded.text, citations = excluded.citations
RETURNING id, question_id
"""

# The newest `limit` rows, each with the running total of the texts from the newest down;
# `first` marks the newest, kept (cut) even when it alone exceeds the window.
_FINDINGS = """
SELECT id, question_id, question, text, citations, iteration,
       sum(length(text)) OVER (ORDER BY id DESC) AS total,
       row_number() OVER (ORDER BY id DESC) = 1 AS first
FROM research_findings WHERE job_id = $1
ORDER BY id DESC LIMIT $2
"""

_SAVE_REPORT = """
INSERT INTO research_reports (job_id, tenant, iteration, kind, text, citations)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (job_id, iteration, kind) DO UPDATE SET text = excluded.text,
    citations = excluded.citations
RETURNING id
"""

_REPORT_COLUMNS = "id, job_id, iteration, kind, text, citations, created_at"

PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]


class ResearchInputError(NaestroError):
    """Findings or a report the store cannot keep as given; retrying cannot help."""


@contextmanager
def _as_input_errors() -> Iterator[None]:
    # Text Postgres refuses (a NUL byte, say) or a broken constraint: the same on every retry.
    try:
        yield
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise ResearchInputError(f"research store refused the input: {exc}") from exc


def headline(text: str) -> str:
    """The text's first words on one line, at most HEADLINE_CHARS characters."""
    line = " ".join(text.split())
    return line if len(line) <= HEADLINE_CHARS else line[: HEADLINE_CHARS - 1] + "…"


def _sources(citations: list[Citation]) -> list[str]:
    return list(dict.fromkeys(c.source for c in citations))


def _cleaned(finding: Finding) -> Finding:
    """The finding as Postgres text and jsonb can hold it (model output: NUL and lone
    surrogates replaced, clean_text)."""
    update = {"question": clean_text(finding.question), "text": clean_text(finding.text)}
    return finding.model_copy(update={**update, "citations": _cleaned_citations(finding.citations)})


def _cleaned_citations(citations: list[Citation]) -> list[Citation]:
    return [
        c.model_copy(update={k: clean_text(v) for k, v in c if isinstance(v, str)})
        for c in citations
    ]


def _dump(citations: list[Citation]) -> str:
    return json.dumps([c.model_dump() for c in citations])


def _citations(raw: str | None) -> list[Citation]:
    return [Citation.model_validate(c) for c in json.loads(raw or "[]")]


def _report(row: asyncpg.Record) -> StoredReport:
    return StoredReport(
        id=row["id"], job_id=row["job_id"], iteration=row["iteration"], kind=row["kind"],
        text=row["text"], citations=_citations(row["citations"]), created_at=row["created_at"],
    )  # fmt: skip


def _window(rows: list[asyncpg.Record], max_chars: int) -> list[Finding]:
    """The newest rows whose texts fit in max_chars together, oldest first."""
    kept = [r for r in rows if r["total"] <= max_chars or r["first"]]
    return [
        Finding(
            question_id=r["question_id"],
            question=r["question"],
            text=r["text"] if r["total"] <= max_chars else r["text"][: max_chars - 1] + "…",
            citations=_citations(r["citations"]),
            iteration=r["iteration"],
        )
        for r in reversed(kept)
    ]


class ResearchStore:
    def __init__(self, pool: PoolFactory) -> None:
        self._pool = pool  # e.g. MemoryService.pool: one pool for memory and research

    async def save_findings(self, req: SaveFindings) -> list[FindingHead]:
        """Upsert an iteration's findings; their heads, in the request's order."""
        if not req.findings:
            return []
        ids = [f.question_id for f in req.findings]
        if len(set(ids)) != len(ids):
            raise ResearchInputError(
                f"research job {req.job_id!r} iteration {req.iteration}: one finding per "
                f"question, got question ids {ids}"
            )
        findings = [_cleaned(f) for f in req.findings]  # model text: NUL, lone surrogates
        pool = await self._pool()
        columns: list[list[Any]] = [
            ids,
            [f.question for f in findings],
            [f.text for f in findings],
            [_dump(f.citations) for f in findings],
        ]
        with _as_input_errors():
            rows = await pool.fetch(_SAVE_FINDINGS, req.job_id, req.tenant, req.iteration, *columns)
        row_of = {r["question_id"]: r["id"] for r in rows}
        return [
            FindingHead(
                id=row_of[f.question_id],
                question_id=f.question_id,
                iteration=req.iteration,
                headline=headline(f.text),
                sources=_sources(f.citations),
            )
            for f in findings
        ]

    async def findings(self, query: FindingsQuery) -> list[Finding]:
        """A job's findings, oldest first: the newest `limit` whose texts fit `max_chars`."""
        pool = await self._pool()
        rows = await pool.fetch(_FINDINGS, query.job_id, query.limit)
        return _window(rows, query.max_chars)

    async def count_findings(self, job_id: str) -> int:
        pool = await self._pool()
        count: int = await pool.fetchval(
            "SELECT count(*) FROM research_findings WHERE job_id = $1", job_id
        )
        return count

    async def save_report(self, report: SavedReport) -> int:
        """Upsert a digest or the final report; its row id."""
        pool = await self._pool()
        with _as_input_errors():
            report_id: int = await pool.fetchval(
                _SAVE_REPORT, report.job_id, report.tenant, report.iteration, report.kind,
                clean_text(report.text), _dump(_cleaned_citations(report.citations)),
            )  # fmt: skip
        return report_id

    async def latest_report(self, job_id: str, kind: str | None = None) -> StoredReport | None:
        """The job's newest report (of this kind, when given)."""
        pool = await self._pool()
        row = await pool.fetchrow(
            f"SELECT {_REPORT_COLUMNS} FROM research_reports "
            "WHERE job_id = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id DESC LIMIT 1",
            job_id,
            kind,
        )
        return _report(row) if row else None

    async def reports(self, job_id: str) -> list[StoredReport]:
        """The job's reports, oldest first."""
        pool = await self._pool()
        rows = await pool.fetch(
            f"SELECT {_REPORT_COLUMNS} FROM research_reports WHERE job_id = $1 ORDER BY id",
            job_id,
        )
        return [_report(r) for r in rows]
