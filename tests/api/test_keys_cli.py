"""`naestro keys create|revoke` against the real Postgres, then the key over HTTP."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from cli.main import main
from tests.api.conftest import Gw


def _invoke(args: list[str], database_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"DATABASE_URL": database_url})
    return result.exit_code, result.output


async def test_keys_create_and_revoke(gw: Gw) -> None:
    code, out = await asyncio.to_thread(
        _invoke, ["keys", "create", "--tenant", "cli", "--scope", "tasks:read"], gw.database_url
    )
    key = out.strip()
    assert code == 0 and key.startswith("nk_")
    async with gw.http(key) as http:
        assert (await http.get("/v1/tasks")).status_code == 200
    code, _ = await asyncio.to_thread(_invoke, ["keys", "revoke", key[:15]], gw.database_url)
    assert code == 0
    async with gw.http(key) as http:
        assert (await http.get("/v1/tasks")).status_code == 401
    code, out = await asyncio.to_thread(
        _invoke, ["keys", "create", "--tenant", "cli", "--scope", "root"], gw.database_url
    )
    assert code == 1 and "unknown scope" in out
