"""Naestro's custom search attributes: how tasks are found and read in the Temporal UI."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PHASE = SearchAttributeKey.for_keyword("NaestroPhase")
KIND = SearchAttributeKey.for_keyword("NaestroKind")
TENANT = SearchAttributeKey.for_keyword("NaestroTenant")
STATUS = SearchAttributeKey.for_keyword("NaestroStatus")
PRIORITY = SearchAttributeKey.for_int("NaestroPriority")
COST = SearchAttributeKey.for_float("NaestroCostUsd")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    PHASE,
    KIND,
    TENANT,
    STATUS,
    PRIORITY,
    COST,
)


def initial(kind: str, tenant: str, priority: int) -> TypedSearchAttributes:
    """A new task's attributes, set at start so it is findable before its first step."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(KIND, kind),
            SearchAttributePair(TENANT, tenant),
            SearchAttributePair(PRIORITY, priority),
            SearchAttributePair(STATUS, "running"),
            SearchAttributePair(PHASE, "pii"),
        ]
    )
