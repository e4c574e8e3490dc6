"""PII: detection (detectors, context, names), redaction and restore, calibration.

The redaction API is re-exported here: ``from naestro.pii import scan, redact, restore``."""

from __future__ import annotations

from naestro.pii.redaction import (
    CALIBRATION_LENGTH,
    CONTEXT_WINDOW,
    ENTITY_TYPES,
    MIN_TOKEN,
    SCORE_CONTEXT_ENTROPY,
    SCORE_HIGH_ENTROPY,
    candidates,
    detect_entropy_secrets,
    high_threshold,
    pseudonymize,
    redact,
    resolve_overlaps,
    restore,
    scan,
    shannon_entropy,
)

__all__ = [
    "ENTITY_TYPES",
    "SCORE_HIGH_ENTROPY",
    "SCORE_CONTEXT_ENTROPY",
    "CALIBRATION_LENGTH",
    "CONTEXT_WINDOW",
    "MIN_TOKEN",
    "shannon_entropy",
    "high_threshold",
    "detect_entropy_secrets",
    "resolve_overlaps",
    "scan",
    "candidates",
    "redact",
    "restore",
    "pseudonymize",
]
