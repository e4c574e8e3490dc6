"""Ingestion: chunking by headings and code blocks, de-duplication, resume after interruption."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from activities.memory.chunking import UnsupportedFile, chunk_text
from activities.memory.ingest import IngestError, expand
from activities.memory.service import MemoryService
from naestro.contracts.memory import IngestRequest

MARKDOWN = """# Guide
Intro text.

## Install
```bash
pip install naestro

naestro dev
```

## Use
Run a task.
"""


def test_markdown_chunks_follow_headings_and_keep_code_blocks_whole() -> None:
    chunks = chunk_text(MARKDOWN, ".md", max_chars=60)
    assert [c.heading for c in chunks] == ["Guide", "Guide › Install", "Guide › Use"]
    assert chunks[1].content == "```bash\npip install naestro\n\nnaestro dev\n```"


def test_rst_html_and_code_chunking() -> None:
    rst = chunk_text("Title\n=====\n\nhello\n\nSub\n---\nworld\n", ".rst")
    assert [(c.heading, c.content) for c in rst] == [("Title", "hello"), ("Title › Sub", "world")]
    html = chunk_text("<h1>A</h1><p>x</p><script>no()</script><h2>B</h2><p>y</p>", ".html")
    assert [(c.heading, c.content) for c in html] == [("A", "x"), ("A › B", "y")]
    source = "import os\n\ndef a():\n    pass\n\n@dec\ndef b():\n    return 1\n"
    code = chunk_text(source, ".py", 30)
    assert code[-1].content == "@dec\ndef b():\n    return 1"
    with pytest.raises(UnsupportedFile, match="'.exe'"):
        chunk_text("x", ".exe")


def test_bad_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="nope.md: no such file"):
        expand([str(tmp_path / "nope.md")])
    (tmp_path / "a.bin").write_bytes(b"\0")
    with pytest.raises(UnsupportedFile, match="a.bin"):
        expand([str(tmp_path / "a.bin")])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# b")
    assert expand([str(tmp_path)]) == [tmp_path / "sub" / "b.md"]  # unsupported skipped


class Interrupted(Exception):
    pass


async def test_dedup_and_resume_after_interruption(
    service: MemoryService, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    for i in range(6):
        (tmp_path / f"doc{i}.md").write_text(f"# Doc {i}\nBody of document {i}.\n")
    (tmp_path / "copy.md").write_text("# Doc 2\nBody of document 2.\n")  # same content as doc2
    request = IngestRequest(paths=[str(tmp_path)], tenant="acme", collection="docs")
    ingestor = await service.ingestor()

    def stop_after_three(done: int, total: int, path: str) -> None:
        if done == 3:
            raise Interrupted(path)

    with pytest.raises(Interrupted):
        await ingestor.run(request, on_progress=stop_after_three)
    assert await conn.fetchval("SELECT count(*) FROM documents") == 3
    seen: list[int] = []
    report = await ingestor.run(request, on_progress=lambda d, t, p: seen.append(d))
    assert seen == list(range(1, 8))
    # copy.md sorts first and doc0, doc1 were stored before the interruption; doc2 is the
    # same content as copy.md.
    assert (report.files, report.documents, report.duplicates) == (7, 3, 4)
    assert await conn.fetchval("SELECT count(*) FROM documents") == 6
    assert await conn.fetchval("SELECT count(*) FROM chunks") == 6
    again = await ingestor.run(request)
    assert (again.documents, again.duplicates) == (0, 7)
    assert await conn.fetchval("SELECT sum(n_chunks) FROM bm25_corpus") == 6
