"""A Replayer configured exactly like the orchestrator worker."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.orchestrator import FAILURE_TYPES, WORKFLOWS
from workers.runner import workflow_runner


def replayer() -> Replayer:
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
        workflow_failure_exception_types=FAILURE_TYPES,
    )
