"""PII: findings, scan and review requests and results, calibration reports."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen


class PiiFinding(Frozen):
    entity_type: str
    start: int
    end: int
    score: float
    detector: str


PiiAction = Literal["redact", "block", "allow"]


PiiStage = Literal["prompt", "tool_arguments", "tool_result"]


class PiiScanRequest(Frozen):
    text: str
    task_id: str = ""
    tenant: str = "default"
    stage: PiiStage = "prompt"  # what the text is, for the findings metric


class PiiScanResult(Frozen):
    redacted: str
    findings: list[PiiFinding] = []
    # placeholder -> original; stays inside the workflow (history is encrypted by the codec)
    mapping: dict[str, str] = {}
    # the tenant's policy, resolved by the scan: what cloud / local providers may see
    cloud_action: PiiAction = "redact"
    local_action: PiiAction = "allow"


class PiiReviewRequest(Frozen):
    """A final answer to check for PII that the user did not supply."""

    text: str
    mapping: dict[str, str] = {}  # the prompt's placeholder -> original


class PiiReviewResult(Frozen):
    text: str  # the answer, with new PII replaced when the policy says "redact"
    new_pii: list[str] = []  # entity types of PII the answer holds but the prompt did not


class PiiRestoreRequest(Frozen):
    text: str
    mapping: dict[str, str]


class PiiCalibrationRequest(Frozen):
    samples: int = Field(default=2000, ge=20, le=200_000)
    seed: int = 7
    output: str = ""  # where to write the calibration; "" = pii.calibration_file


class PiiEntityScore(Frozen):
    entity_type: str
    support: int
    precision: float
    recall: float
    f1: float


class PiiCalibrationReport(Frozen):
    """Thresholds chosen on the validation split; scores measured on the test split."""

    seed: int
    split: dict[str, int]  # train / validate / test sample counts
    entropy_high: float
    entropy_low: float
    thresholds: dict[str, float]  # detector -> minimum score
    test: list[PiiEntityScore]
    micro_f1: float
    written_to: str = ""
