"""The PII activities through ActivityEnvironment, including failing closed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pii import PiiActivities
from naestro.config.settings import PiiConfig, TenantPiiPolicy
from naestro.contracts import PiiRestoreRequest, PiiScanRequest
from naestro.pii.redaction import with_placeholders

TEXT = "Mail jane.doe@example.com or call (415) 555-2671; token Xq7vR2pL9sK4mN8bT3wZ6yH1"


def test_scan_and_restore_activities() -> None:
    env = ActivityEnvironment()
    acts = PiiActivities(PiiConfig())
    result = env.run(acts.scan, PiiScanRequest(text=TEXT, task_id="t-1"))
    assert result.redacted == "Mail <EMAIL_1> or call <PHONE_1>; token <SECRET_1>"
    assert [f.entity_type for f in result.findings] == ["EMAIL", "PHONE", "SECRET"]
    restored = env.run(
        acts.restore, PiiRestoreRequest(text=result.redacted, mapping=result.mapping)
    )
    assert restored == TEXT


def test_a_later_scan_numbers_on_from_the_tasks_placeholders() -> None:
    """A tool's result scanned, then numbered onto the task's mapping (as
    ModelCaller.scan_joining does): a known value keeps its placeholder, a new one gets the
    next number, and the mapping returned holds both."""
    env = ActivityEnvironment()
    acts = PiiActivities(PiiConfig())
    first = env.run(acts.scan, PiiScanRequest(text=TEXT))
    text = "jane.doe@example.com wrote to ann@example.com"
    scan = env.run(acts.scan, PiiScanRequest(text=text, stage="tool_result"))
    result = with_placeholders(scan, text, first.mapping)
    assert result.redacted == "<EMAIL_1> wrote to <EMAIL_2>"
    assert result.mapping == {**first.mapping, "<EMAIL_2>": "ann@example.com"}


def test_scan_logs_counts_never_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ActivityEnvironment().run(PiiActivities(PiiConfig()).scan, PiiScanRequest(text=TEXT))
    messages = [r.getMessage() for r in caplog.records]
    assert any("'EMAIL': 1" in m for m in messages)
    for value in ("jane.doe@example.com", "555-2671", "Xq7vR2pL9sK4mN8bT3wZ6yH1"):
        assert not any(value in m for m in messages)


@pytest.mark.parametrize(
    "config",
    [
        # YAML reads ".nan" as a float, so NAESTRO__PII__ENTROPY_HIGH=.nan gets this far;
        # NaN compares false with everything and would silently disable entropy detection.
        PiiConfig(entropy_high=float("nan")),
        PiiConfig(entropy_high=2.0, entropy_low=3.0),
        PiiConfig(entropy_low=-1.0),
    ],
    ids=["nan", "inverted", "negative"],
)
def test_impossible_thresholds_fail_closed(config: PiiConfig) -> None:
    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(PiiActivities(config).scan, PiiScanRequest(text=TEXT))
    err = info.value
    assert err.type == "PiiScanError"
    assert err.non_retryable
    assert err.__cause__ is None  # nothing chained into history
    assert "jane" not in str(err)


def test_unexpected_crash_fails_closed_without_quoting_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # model_construct skips validation, as a payload built by hand or decoded by some
    # other path might; the scanner then crashes on a non-str and must not wave it through.
    request = PiiScanRequest.model_construct(text=[TEXT])  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(PiiActivities(PiiConfig()).scan, request)
    err = info.value
    assert err.type == "PiiScanError" and err.non_retryable
    assert "TypeError" in str(err) and "jane" not in str(err)
    assert err.__cause__ is None
    assert not any("jane" in r.getMessage() for r in caplog.records)


def test_calibrated_thresholds_apply_and_config_wins(tmp_path: Path) -> None:
    from naestro.contracts import PiiCalibrationReport
    from naestro.pii import calibration as pii_calibration

    report = PiiCalibrationReport(
        seed=1,
        split={"train": 0, "validate": 0, "test": 0},
        entropy_high=4.5,
        entropy_low=2.5,
        thresholds={"email.regex": 0.99, "phone.libphonenumber": 0.99},
        test=[],
        micro_f1=0.0,
    )
    path = pii_calibration.write(report, tmp_path / "cal.yaml").written_to
    env = ActivityEnvironment()
    calibrated = PiiActivities(PiiConfig(calibration_file=path))
    kinds = [f.entity_type for f in env.run(calibrated.scan, PiiScanRequest(text=TEXT)).findings]
    assert kinds == ["SECRET"]
    config = PiiConfig(calibration_file=path, thresholds={"email.regex": 0.5})
    result = env.run(PiiActivities(config).scan, PiiScanRequest(text=TEXT))
    assert [f.entity_type for f in result.findings] == ["EMAIL", "SECRET"]


def test_tenant_policy_travels_with_the_scan() -> None:
    config = PiiConfig(tenants={"acme": TenantPiiPolicy(cloud="block", local="redact")})
    env = ActivityEnvironment()
    acme = env.run(PiiActivities(config).scan, PiiScanRequest(text=TEXT, tenant="acme"))
    other = env.run(PiiActivities(config).scan, PiiScanRequest(text=TEXT, tenant="other"))
    assert (acme.cloud_action, acme.local_action) == ("block", "redact")
    assert (other.cloud_action, other.local_action) == ("redact", "allow")
