"""The Temporal schedule that recalibrates the PII detectors (``naestro pii calibrate
--schedule``): created when missing, updated in place when it exists."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from naestro import names
from naestro.config.settings import Settings
from naestro.contracts import PiiCalibrationRequest
from naestro.errors import ConfigError

WORKFLOW_NAME = names.PII_CALIBRATION_WORKFLOW
SCHEDULE_ID = "naestro-pii-calibration"


def calibration_schedule(settings: Settings, cron: str, request: PiiCalibrationRequest) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_NAME,
            request,
            id=f"{SCHEDULE_ID}-run",
            task_queue=settings.queues.orchestrator,
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )


async def ensure_schedule(
    client: Client,
    settings: Settings,
    cron: str | None = None,
    request: PiiCalibrationRequest | None = None,
    schedule_id: str = SCHEDULE_ID,
) -> str:
    """Create or update the schedule; returns its id."""
    cron = cron or settings.pii.calibration_schedule
    wanted = calibration_schedule(
        settings,
        cron,
        request or PiiCalibrationRequest(samples=settings.pii.calibration_samples),
    )

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=wanted)

    try:
        try:
            await client.create_schedule(schedule_id, wanted)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(replace)
    except RPCError as exc:
        raise ConfigError(f"PII calibration schedule {cron!r} refused: {exc.message}") from None
    return schedule_id
