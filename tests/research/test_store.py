"""ResearchStore against a real Postgres (pgserver), and its activities' error mapping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.memory.service import MemoryService
from activities.research.activity import ResearchActivities
from activities.research.store import HEADLINE_CHARS, ResearchStore, headline
from naestro import db
from naestro.config.settings import MemoryConfig
from naestro.contracts.research import (
    Citation,
    Finding,
    FindingsQuery,
    SavedReport,
    SaveFindings,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(db_url, 2)
    yield p
    await p.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> ResearchStore:
    async def get() -> asyncpg.Pool:
        return pool

    return ResearchStore(get)


def job() -> str:
    return f"research-{uuid.uuid4().hex[:8]}"


def finding(qid: str, text: str, *sources: str, iteration: int = 1) -> Finding:
    cites = [Citation(source=s, ref=f"{s}#1", quote="q") for s in sources]
    return Finding(question_id=qid, question=f"what about {qid}?", text=text,
                   citations=cites, iteration=iteration)  # fmt: skip


def save(job_id: str, iteration: int, *findings: Finding) -> SaveFindings:
    return SaveFindings(job_id=job_id, tenant="acme", iteration=iteration, findings=[*findings])


def report(job_id: str, iteration: int, kind: str, text: str) -> SavedReport:
    return SavedReport.model_validate({"job_id": job_id, "tenant": "acme", "iteration": iteration,
        "kind": kind, "text": text, "citations": [{"source": "a.md", "quote": "x"}]})  # fmt: skip


async def test_findings_round_trip_with_heads(store: ResearchStore) -> None:
    j = job()
    long = "First line\n  of a   long finding. " + "word " * 100
    heads = await store.save_findings(
        save(j, 1, finding("q1", long, "a.md", "b.md", "a.md"), finding("q2", "Short.", "model"))
    )
    assert [h.question_id for h in heads] == ["q1", "q2"] and heads[0].id < heads[1].id
    assert heads[0].iteration == 1 and heads[0].sources == ["a.md", "b.md"]
    assert heads[0].headline.startswith("First line of a long finding. word")
    assert len(heads[0].headline) == HEADLINE_CHARS and "\n" not in heads[0].headline
    assert heads[1].headline == "Short." and heads[1].sources == ["model"]

    got = await store.findings(FindingsQuery(job_id=j))
    assert got == [finding("q1", long, "a.md", "b.md", "a.md"), finding("q2", "Short.", "model")]
    assert await store.count_findings(j) == 2
    assert await store.save_findings(save(j, 2)) == []


async def test_a_retried_save_returns_the_same_ids(
    store: ResearchStore, pool: asyncpg.Pool
) -> None:
    j = job()
    request = save(j, 3, finding("q1", "one", "a.md"), finding("q2", "two"))
    first = await store.save_findings(request)
    again = await store.save_findings(request)
    assert again == first
    assert await store.count_findings(j) == 2
    # A later iteration answering the same question is a new row.
    [later] = await store.save_findings(save(j, 4, finding("q1", "one, revised")))
    assert later.id > first[1].id and await store.count_findings(j) == 3

    report_id = await store.save_report(report(j, 3, "digest", "so far"))
    assert await store.save_report(report(j, 3, "digest", "so far")) == report_id
    rows = await pool.fetchval("SELECT count(*) FROM research_reports WHERE job_id = $1", j)
    assert rows == 1


async def test_the_window_keeps_the_newest_that_fit(store: ResearchStore) -> None:
    j = job()
    for i in range(1, 6):  # five findings of 100 characters, one per iteration
        await store.save_findings(save(j, i, finding(f"q{i}", str(i) * 100, iteration=i)))
    got = await store.findings(FindingsQuery(job_id=j, max_chars=350))
    assert [f.question_id for f in got] == ["q3", "q4", "q5"]  # oldest first
    got = await store.findings(FindingsQuery(job_id=j, limit=2))
    assert [f.question_id for f in got] == ["q4", "q5"]
    # The newest alone over the window: kept, cut to fit, rather than nothing at all.
    await store.save_findings(save(j, 6, finding("q6", "x" * 500, iteration=6)))
    [only] = await store.findings(FindingsQuery(job_id=j, max_chars=100))
    assert only.question_id == "q6" and len(only.text) == 100 and only.text.endswith("…")


async def test_reports_and_the_latest_by_kind(store: ResearchStore) -> None:
    j = job()
    assert await store.latest_report(j) is None and await store.reports(j) == []
    d1 = await store.save_report(report(j, 2, "digest", "digest one"))
    d2 = await store.save_report(report(j, 4, "digest", "digest two"))
    final = await store.save_report(report(j, 5, "final", "the answer"))

    latest = await store.latest_report(j)
    assert latest is not None and latest.id == final and latest.kind == "final"
    assert latest.text == "the answer" and latest.iteration == 5 and latest.job_id == j
    assert latest.citations == [Citation(source="a.md", quote="x")]
    assert latest.created_at.tzinfo is not None
    digest = await store.latest_report(j, "digest")
    assert digest is not None and (digest.id, digest.text) == (d2, "digest two")
    assert [r.id for r in await store.reports(j)] == [d1, d2, final]


async def test_jobs_do_not_see_each_other(store: ResearchStore) -> None:
    a, b = job(), job()
    await store.save_findings(save(a, 1, finding("q1", "a's finding")))
    await store.save_findings(save(b, 1, finding("q1", "b's finding")))
    await store.save_report(report(a, 1, "final", "a's report"))

    assert [f.text for f in await store.findings(FindingsQuery(job_id=b))] == ["b's finding"]
    assert await store.count_findings(a) == 1 and await store.count_findings(b) == 1
    assert await store.latest_report(b) is None and await store.reports(b) == []
    assert await store.count_findings(job()) == 0


async def test_the_migration_applies_on_a_fresh_database_once(fresh_url: str) -> None:
    cfg = MemoryConfig()
    assert "004_research" in await db.migrate(fresh_url, cfg)
    assert await db.migrate(fresh_url, cfg) == []
    conn = await asyncpg.connect(fresh_url)
    try:
        found = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'research_%' ORDER BY 1"
        )
    finally:
        await conn.close()
    assert [r["tablename"] for r in found] == ["research_findings", "research_reports"]


def test_headline_is_one_short_line() -> None:
    assert headline("  a\n\tb  ") == "a b"
    assert len(headline("x" * 1000)) == HEADLINE_CHARS


# The activities: Temporal retries what may pass on a retry, and only that.


async def test_activities_save_and_read(store: ResearchStore) -> None:
    env, acts, j = ActivityEnvironment(), ResearchActivities(store), job()
    [head] = await env.run(acts.save_findings, save(j, 1, finding("q1", "found", "a.md")))
    [back] = await env.run(acts.findings, FindingsQuery(job_id=j))
    assert back.text == "found" and head.sources == ["a.md"]
    assert await env.run(acts.save_report, report(j, 1, "final", "done")) > 0


@pytest.mark.parametrize(
    "request_",
    [
        save("j", 1, finding("q1", "one"), finding("q1", "two")),  # one row per question
    ],
    ids=["duplicate-question"],
)
async def test_bad_input_is_not_retried(store: ResearchStore, request_: SaveFindings) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(ResearchActivities(store).save_findings, request_)
    assert caught.value.type == "ResearchInputError" and caught.value.non_retryable
    assert await store.count_findings("j") == 0


async def test_model_text_postgres_refuses_is_kept_cleaned(store: ResearchStore) -> None:
    """A finding's NUL byte or lone surrogate (model output) is replaced, not a lost finding."""
    env, acts, j = ActivityEnvironment(), ResearchActivities(store), job()
    dirty = finding("q1", "a NUL \x00 and a \ud800 byte", "a\x00.md")
    await env.run(acts.save_findings, save(j, 1, dirty))
    await env.run(acts.save_report, report(j, 1, "final", "done \x00"))
    [back] = await env.run(acts.findings, FindingsQuery(job_id=j))
    assert back.text == "a NUL \ufffd and a \ufffd byte"
    assert [c.source for c in back.citations] == ["a\ufffd.md"]


async def test_an_unreachable_database_is_retried() -> None:
    async def unreachable() -> asyncpg.Pool:
        return await db.create_pool("postgresql://naestro@127.0.0.1:9/none", 1)

    acts = ResearchActivities(ResearchStore(unreachable))
    with pytest.raises(OSError):  # not an ApplicationError: Temporal retries it
        await ActivityEnvironment().run(acts.findings, FindingsQuery(job_id="j"))


async def test_no_database_configured_is_not_retried() -> None:
    service = MemoryService(MemoryConfig(database_url_env=f"NAESTRO_UNSET_{uuid.uuid4().hex}"))
    acts = ResearchActivities(ResearchStore(service.pool))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.save_report, report("j", 1, "final", "x"))
    assert caught.value.type == "MemoryUnavailable" and caught.value.non_retryable
