"""Naestro's custom search attributes: how tasks are found and read in the Temporal UI."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

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
