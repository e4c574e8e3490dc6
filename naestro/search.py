"""Naestro's custom search attributes: how tasks and research jobs are found and read in the
Temporal UI."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PHASE = SearchAttributeKey.for_keyword("NaestroPhase")
KIND = SearchAttributeKey.for_keyword("NaestroKind")
TENANT = SearchAttributeKey.for_keyword("NaestroTenant")
POLICY = SearchAttributeKey.for_keyword("NaestroPolicy")  # the policy a task runs under
STATUS = SearchAttributeKey.for_keyword("NaestroStatus")
PRIORITY = SearchAttributeKey.for_int("NaestroPriority")
COST = SearchAttributeKey.for_float("NaestroCostUsd")
# The outcome a rollout gate compares between versions (set when the task ends).
SCORE = SearchAttributeKey.for_float("NaestroScore")
CONFIDENCE = SearchAttributeKey.for_float("NaestroConfidence")
# A shadow task: a rollout's copy of a user's task on the candidate version. Nothing it does
# reaches the user (no answer returned, no memory, no notification, no cache entry).
SHADOW = SearchAttributeKey.for_bool("NaestroShadow")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    PHASE,
    KIND,
    TENANT,
    POLICY,
    STATUS,
    PRIORITY,
    COST,
    SCORE,
    CONFIDENCE,
    SHADOW,
)


def initial(
    kind: str, tenant: str, priority: int, *, policy: str | None = None, shadow: bool = False
) -> TypedSearchAttributes:
    """A new task's attributes, set at start so it is findable before its first step."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(KIND, kind),
        SearchAttributePair(TENANT, tenant),
        SearchAttributePair(PRIORITY, priority),
        SearchAttributePair(STATUS, "running"),
        SearchAttributePair(PHASE, "pii"),
        SearchAttributePair(COST, 0.0),  # the workflow upserts it when a call costs
    ]
    if policy is not None:
        pairs.append(SearchAttributePair(POLICY, policy))
    if shadow:
        pairs.append(SearchAttributePair(SHADOW, True))
    return TypedSearchAttributes(pairs)


RESEARCH_KIND = "research"  # NaestroKind of every research job (a task's is code/math/general)


def research_initial(tenant: str, priority: int) -> TypedSearchAttributes:
    """A new research job's attributes, set at start so it is listed and tenant-checked
    before its first iteration (the workflow upserts status, phase and cost as it runs)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(KIND, RESEARCH_KIND),
            SearchAttributePair(TENANT, tenant),
            SearchAttributePair(PRIORITY, priority),
            SearchAttributePair(STATUS, "running"),
            SearchAttributePair(PHASE, "start"),
            SearchAttributePair(COST, 0.0),
        ]
    )
