"""One-time namespace setup: Naestro's search attributes."""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from naestro import search

log = logging.getLogger(__name__)


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any of Naestro's search attributes the namespace lacks; return those added.
    Where the caller may not (Temporal Cloud: they are made in the namespace's settings),
    say so in the log and go on."""
    try:
        return await _ensure(client)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        names = ", ".join(key.name for key in search.ALL)
        log.warning(
            "cannot register search attributes here (%s): make sure the namespace has %s",
            exc.message,
            names,
        )
        return []


async def _ensure(client: Client) -> list[str]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search.ALL
        if key.name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
        log.info("registered search attributes: %s", ", ".join(sorted(missing)))
    return sorted(missing)
