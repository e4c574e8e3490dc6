"""ResearchActivities: save and read back a research job's findings and reports.

They run on the memory worker (`naestro.memory`), sharing its Postgres pool. Workflows
import this module for the method references only, so asyncpg (through the store) is
imported under TYPE_CHECKING and, for the error mapping, inside the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.memory.activity import _app_error as memory_app_error
from naestro import names
from naestro.contracts.research import (
    Finding,
    FindingHead,
    FindingsQuery,
    SavedReport,
    SaveFindings,
)
from naestro.errors import NaestroError

if TYPE_CHECKING:
    from activities.research.store import ResearchStore


def _app_error(exc: NaestroError) -> ApplicationError:
    from activities.research.store import ResearchInputError

    if isinstance(exc, ResearchInputError):  # the same input fails the same way again
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    # No database configured: non-retryable. One configured but unreachable raises
    # asyncpg's or the OS's own error, which Temporal retries.
    return memory_app_error(exc)


class ResearchActivities:
    def __init__(self, store: ResearchStore) -> None:
        self.store = store

    @activity.defn(name=names.RESEARCH_SAVE_FINDINGS)
    async def save_findings(self, request: SaveFindings) -> list[FindingHead]:
        """Keep an iteration's findings; the heads the workflow carries instead of them."""
        try:
            return await self.store.save_findings(request)
        except NaestroError as exc:
            raise _app_error(exc) from exc

    @activity.defn(name=names.RESEARCH_FINDINGS)
    async def findings(self, request: FindingsQuery) -> list[Finding]:
        try:
            return await self.store.findings(request)
        except NaestroError as exc:
            raise _app_error(exc) from exc

    @activity.defn(name=names.RESEARCH_SAVE_REPORT)
    async def save_report(self, request: SavedReport) -> int:
        try:
            return await self.store.save_report(request)
        except NaestroError as exc:
            raise _app_error(exc) from exc
