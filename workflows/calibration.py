"""PiiCalibrationWorkflow: recalibrate the PII detectors, started by a Temporal schedule.

Deterministic orchestration only: the corpus, the fitting and the file write happen in the
``naestro.pii.calibrate`` activity; the report (thresholds and test scores, no PII: the
corpus is synthetic) is the workflow's result, visible in the Temporal UI.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior

from activities.pii import PiiActivities
from naestro import names
from naestro.contracts import PiiCalibrationReport, PiiCalibrationRequest
from naestro.presets import SANDBOX_RUN

WORKFLOW_NAME = names.PII_CALIBRATION_WORKFLOW
SCHEDULE_ID = "naestro-pii-calibration"


@workflow.defn(name=WORKFLOW_NAME, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class PiiCalibrationWorkflow:
    @workflow.run
    async def run(self, request: PiiCalibrationRequest) -> PiiCalibrationReport:
        return await workflow.execute_activity_method(
            PiiActivities.calibrate,
            request,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=SANDBOX_RUN.retry,  # a few tries: the work is CPU-bound and local
            summary=f"calibrate on {request.samples} samples (seed {request.seed})",
        )
