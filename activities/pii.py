"""PII scanning, restoration, output review and calibration as activities.

Scan, restore and review run locally in the task workflow. Synchronous on purpose: the
scan is CPU-bound, so the worker runs these in its activity thread pool rather than on the
event loop. A scanner failure is never retried and never waved through: the workflow fails
closed rather than send unscanned text to a cloud model. Logs carry counts, never values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

from naestro.config.settings import PiiConfig
from naestro.contracts import (
    PiiCalibrationReport,
    PiiCalibrationRequest,
    PiiFinding,
    PiiRestoreRequest,
    PiiReviewRequest,
    PiiReviewResult,
    PiiScanRequest,
    PiiScanResult,
)
from naestro.errors import NaestroError, PiiScanError, to_application_error
from naestro.pii import calibration as pii_calibration
from naestro.pii import redaction as pii
from naestro.telemetry import catalogue, metrics

T = TypeVar("T")


def _fail_closed(step: Callable[[], T]) -> T:
    try:
        return step()
    except PiiScanError as exc:
        # Our own message names thresholds, never the text. "from None": Temporal
        # would otherwise serialise the chained cause into the workflow's history.
        raise to_application_error(exc) from None
    except Exception as exc:
        # Anything else may quote the text in its message: keep only its type.
        activity.logger.error("PII scan crashed with %s", type(exc).__name__)
        failure = PiiScanError(f"PII scanner crashed ({type(exc).__name__})")
        raise to_application_error(failure) from None


class PiiActivities:
    def __init__(self, config: PiiConfig) -> None:
        self._config = config
        calibration = pii_calibration.load(config.calibration_file)
        base = calibration.thresholds if calibration else {}
        # Explicit thresholds in temporal.yaml win over the calibrated ones.
        self._thresholds = {**base, **config.thresholds}

    def _findings(self, text: str) -> list[PiiFinding]:
        return pii.scan(
            text,
            entropy_high=self._config.entropy_high,
            entropy_low=self._config.entropy_low,
            thresholds=self._thresholds,
        )

    def _scan(self, request: PiiScanRequest) -> PiiScanResult:
        policy = self._config.policy_for(request.tenant)
        actions = {"cloud_action": policy.cloud, "local_action": policy.local}
        if not self._config.enabled:
            return PiiScanResult(redacted=request.text, **actions)
        result = pii.redact(request.text, self._findings(request.text))
        return result.model_copy(update=actions)

    @activity.defn(name="naestro.pii.scan")
    def scan(self, request: PiiScanRequest) -> PiiScanResult:
        """Redact ``request.text``; the result's mapping holds the originals, and its
        actions say what the tenant's cloud and local providers may see."""
        result = _fail_closed(lambda: self._scan(request))
        counts = Counter(f.entity_type for f in result.findings)
        for entity, found in counts.items():
            metrics.count(catalogue.PII_FINDINGS, found, type=entity, stage=request.stage)
        activity.logger.info(
            "PII scan of %d chars: %d findings %s",
            len(request.text),
            len(result.findings),
            dict(sorted(counts.items())),
        )
        return result

    @activity.defn(name="naestro.pii.restore")
    def restore(self, request: PiiRestoreRequest) -> str:
        """Put the originals behind ``request.mapping``'s placeholders back into the text."""
        return pii.restore(request.text, request.mapping)

    def _review(self, request: PiiReviewRequest) -> PiiReviewResult:
        if self._config.review_output == "off" or not self._config.enabled:
            return PiiReviewResult(text=request.text)
        supplied = set(request.mapping.values())
        new = [
            f for f in self._findings(request.text) if request.text[f.start : f.end] not in supplied
        ]
        text = request.text
        if new and self._config.review_output == "redact":
            text = pii.redact(text, new, request.mapping).redacted
        return PiiReviewResult(text=text, new_pii=sorted({f.entity_type for f in new}))

    @activity.defn(name="naestro.pii.review")
    def review(self, request: PiiReviewRequest) -> PiiReviewResult:
        """Scan a final answer for PII the user did not supply (a model may leak it)."""
        result = _fail_closed(lambda: self._review(request))
        if result.new_pii:
            activity.logger.warning("final answer holds new PII of types %s", result.new_pii)
        for entity in result.new_pii:  # types only: a count per type would need the spans
            metrics.count(catalogue.PII_FINDINGS, type=entity, stage="output")
        return result

    @activity.defn(name="naestro.pii.calibrate")
    def calibrate(self, request: PiiCalibrationRequest) -> PiiCalibrationReport:
        """Recalibrate on a fresh labelled corpus and write the result for new workers."""
        try:
            report = pii_calibration.calibrate(request.samples, request.seed)
            return pii_calibration.write(report, request.output or self._config.calibration_file)
        except NaestroError as exc:
            raise to_application_error(exc) from None
