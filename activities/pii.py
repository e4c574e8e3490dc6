"""PII scanning and restoration as activities, run locally by the task workflow.

Synchronous on purpose: the scan is CPU-bound, so the worker runs these in its activity
thread pool rather than on the event loop. A scanner failure is never retried and never
waved through: the workflow fails closed rather than send unscanned text to a cloud model.
"""

from __future__ import annotations

from collections import Counter

from temporalio import activity

from naestro import pii
from naestro.contracts import PiiRestoreRequest, PiiScanRequest, PiiScanResult
from naestro.errors import PiiScanError, to_application_error
from naestro.settings import PiiConfig


class PiiActivities:
    def __init__(self, config: PiiConfig) -> None:
        self._config = config

    def _scan(self, text: str) -> PiiScanResult:
        if not self._config.enabled:
            return PiiScanResult(redacted=text)
        findings = pii.scan(
            text,
            entropy_high=self._config.entropy_high,
            entropy_low=self._config.entropy_low,
        )
        return pii.redact(text, findings)

    @activity.defn(name="naestro.pii.scan")
    def scan(self, request: PiiScanRequest) -> PiiScanResult:
        """Redact ``request.text``; the result's mapping holds the originals."""
        try:
            result = self._scan(request.text)
        except PiiScanError as exc:
            # Our own message names thresholds, never the text. "from None": Temporal
            # would otherwise serialise the chained cause into the workflow's history.
            raise to_application_error(exc) from None
        except Exception as exc:
            # Anything else may quote the text in its message: keep only its type.
            activity.logger.error("PII scan crashed with %s", type(exc).__name__)
            failure = PiiScanError(f"PII scanner crashed ({type(exc).__name__})")
            raise to_application_error(failure) from None
        counts = Counter(f.entity_type for f in result.findings)
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
