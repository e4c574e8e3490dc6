"""POST /v1/blobs (workspace upload) and tasks that name an uploaded workspace."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from temporalio.client import Client

from api.app import create_app
from api.db import create_pool
from api.keys import create_key
from naestro.contracts import TaskRequest
from tests.api.conftest import Gw, gateway_settings, serve

GZIP, ZIP = {"Content-Type": "application/gzip"}, {"Content-Type": "application/zip"}


def _tarball(text: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo("test_app.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


async def test_upload_answers_the_blob_reference(gw: Gw, admin_key: str) -> None:
    archive = _tarball(f"def test_ok():\n    assert {uuid.uuid4().int} > 0\n")
    async with gw.http(admin_key) as http:
        first = await http.post("/v1/blobs", content=archive, headers=GZIP)
        again = await http.post("/v1/blobs", content=archive, headers=GZIP)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "sha256": hashlib.sha256(archive).hexdigest(),
        "size": len(archive),
        "media_type": "application/gzip",
    }
    assert again.json() == first.json()  # content-addressed: one blob


async def test_upload_needs_a_writer(gw: Gw) -> None:
    reader = await gw.key("acme", ("tasks:read",))
    async with gw.http() as anonymous, gw.http(reader) as read_only:
        none = await anonymous.post("/v1/blobs", content=b"PK\x03\x04")
        wrong = await read_only.post("/v1/blobs", content=b"PK\x03\x04")
    assert none.status_code == 401
    assert wrong.status_code == 403


async def test_upload_refuses_other_media_and_empty_bodies(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        json_body = await http.post("/v1/blobs", json={"not": "an archive"})
        empty = await http.post("/v1/blobs", content=b"", headers=ZIP)
    assert json_body.status_code == 415 and "application/json" in json_body.json()["detail"]
    assert empty.status_code == 422


async def test_workspace_over_its_limit_is_413_declared_or_streamed(
    client: Client, database_url: str, tmp_path: Path
) -> None:
    settings = gateway_settings(tmp_path, max_workspace_bytes=64 * 1024)
    pool = await create_pool(database_url, settings.memory)
    try:
        key = await create_key(pool, "acme", ["tasks:write"])
    finally:
        await pool.close()
    big = b"\x1f\x8b" + b"0" * (64 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    app = create_app(settings, client=client, database_url=database_url)
    async with serve(app) as url:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/gzip"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            declared = await http.post("/v1/blobs", content=big)
            streamed = await http.post("/v1/blobs", content=chunks())
            fits = await http.post("/v1/blobs", content=big[: 60 * 1024])
            # the workspace limit is this route's: a task's body keeps api.max_body_bytes
            task = await http.post("/v1/tasks", json={"prompt": "x" * 70_000, "policy": "nope"})
    expected = "over the limit of 65536 (api.max_workspace_bytes)"
    assert declared.status_code == 413 and expected in declared.json()["detail"]
    assert streamed.status_code == 413 and expected in streamed.json()["detail"]
    assert fits.status_code == 201, fits.text
    assert task.status_code == 422  # read and validated, not refused for its size


async def test_a_task_names_an_uploaded_workspace(gw: Gw, admin_key: str, client: Client) -> None:
    archive = _tarball(f"def test_ok():\n    assert {uuid.uuid4().int} > 0\n")
    async with gw.http(admin_key) as http:
        ref = (await http.post("/v1/blobs", content=archive, headers=GZIP)).json()
        workspace = {"archive": ref, "test_command": ["pytest", "-q"], "dependencies": ["attrs"]}
        missing = {**workspace, "archive": {**ref, "sha256": "0" * 64}}
        unknown = await http.post("/v1/tasks", json={"prompt": "fix it", "workspace": missing})
        started = await http.post(
            "/v1/tasks",
            json={"prompt": f"pass {uuid.uuid4()}", "kind": "code", "workspace": workspace},
        )
    assert unknown.status_code == 422
    [error] = unknown.json()["detail"]
    assert error["loc"] == ["body", "workspace", "archive", "sha256"]
    assert "POST the archive to /v1/blobs first" in error["msg"]
    assert started.status_code == 202, started.text
    handle = client.get_workflow_handle(started.json()["task_id"])
    history = await handle.fetch_history()
    await handle.terminate("the test only reads its input")
    first = history.events[0].workflow_execution_started_event_attributes
    [request] = await client.data_converter.decode(first.input.payloads, [TaskRequest])
    assert request.verify is not None and request.verify.workspace is not None
    assert request.verify.workspace.archive.sha256 == ref["sha256"]
    assert request.verify.workspace.test_command == ["pytest", "-q"]
    assert request.verify.workspace.dependencies == ["attrs"]
