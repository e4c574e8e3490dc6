"""`naestro db migrate`, `ingest`, `search` and `feedback` as real subprocesses on Postgres."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]


def naestro(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1",
           "NAESTRO_CONFIG": str(ROOT / "temporal.yaml")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_migrate_ingest_search_feedback(fresh_url: str, tmp_path: Path) -> None:
    done = naestro(["db", "migrate"], fresh_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "applied: 001_memory" in done.stdout
    again = naestro(["db", "migrate"], fresh_url, tmp_path)
    assert "nothing (up to date)" in again.stdout

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "retry.md").write_text("# Retries\nTemporal retries failed activities with backoff.\n")
    (docs / "notes.rst").write_text("Notes\n=====\n\nPostgres partitions chunks by month.\n")
    (docs / "dup.txt").write_text("# Retries\nTemporal retries failed activities with backoff.\n")
    first = naestro(["ingest", str(docs), "--tenant", "acme"], fresh_url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 file(s): 2 new document(s), 2 chunk(s), 1 already stored" in first.stdout

    found = naestro(["search", "activity retries", "--tenant", "acme", "-k", "1"], fresh_url,
                    tmp_path)  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "retry.md › Retries" in found.stdout or "dup.txt" in found.stdout
    conn = await asyncpg.connect(fresh_url)
    try:
        chunk_id = await conn.fetchval("SELECT min(id) FROM chunks WHERE tenant = 'acme'")
    finally:
        await conn.close()
    ok = naestro(["feedback", "approve", "--chunk", str(chunk_id), "--tenant", "acme"],
                 fresh_url, tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"approve recorded for chunk {chunk_id}: 1 approval(s)" in ok.stdout
    bad = naestro(["feedback", "approve", "--chunk", "999999"], fresh_url, tmp_path)
    assert bad.returncode == 1 and "no chunk 999999 in tenant 'default'" in bad.stderr
    both = naestro(["feedback", "reject"], fresh_url, tmp_path)
    assert both.returncode == 1 and "exactly one of --chunk ID or --task ID" in both.stderr
    missing = naestro(["ingest", str(tmp_path / "nope")], fresh_url, tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
