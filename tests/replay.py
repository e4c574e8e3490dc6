"""A Replayer configured exactly like the orchestrator worker."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workers.orchestrator import FAILURE_TYPES, WORKFLOWS
from workers.runner import workflow_runner


def replayer(data_converter: DataConverter = pydantic_data_converter) -> Replayer:
    """``data_converter``: the codec-bearing one for histories fetched from the server."""
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=data_converter,
        workflow_failure_exception_types=FAILURE_TYPES,
    )
