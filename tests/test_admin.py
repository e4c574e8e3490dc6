"""Search attributes: registered where the caller may, a warning where it may not (Temporal
Cloud makes them in the namespace's settings), any other error raised."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from naestro.admin import ensure_search_attributes


def _client(status: RPCStatusCode) -> Any:
    async def refuse(_: Any) -> None:
        raise RPCError("not allowed", status, b"")

    operator = SimpleNamespace(list_search_attributes=refuse, add_search_attributes=refuse)
    return SimpleNamespace(namespace="cloud-ns", operator_service=operator)


async def test_a_namespace_that_refuses_registration_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert await ensure_search_attributes(_client(RPCStatusCode.PERMISSION_DENIED)) == []
    assert "NaestroPhase" in caplog.text


async def test_other_errors_are_raised() -> None:
    with pytest.raises(RPCError):
        await ensure_search_attributes(_client(RPCStatusCode.UNAVAILABLE))


async def test_the_dev_server_gets_them_registered(client: Client) -> None:
    await ensure_search_attributes(client)  # registered once (the session's fixture did)
    assert await ensure_search_attributes(client) == []
