"""Calibrating the PII detectors on a labelled corpus split 40/35/25.

* **train** (40 %): the entropy detector's high/low thresholds, by SECRET F1 on a grid;
* **validate** (35 %): a minimum score per detector, by its entity's F1;
* **test** (25 %): precision, recall and F1 per entity, reported and written with the
  thresholds to ``pii.calibration_file``, which the PII activity then applies.

A finding matches a labelled span of the same entity type when they overlap by at least
half of their union (IoU >= 0.5); each labelled span matches at most once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from naestro import pii
from naestro.contracts import PiiCalibrationReport, PiiEntityScore, PiiFinding
from naestro.errors import ConfigError

if TYPE_CHECKING:  # Faker loads only when a corpus is built, never in workflow code
    from naestro.pii.corpus import Sample, Span

SPLIT = (0.40, 0.35, 0.25)
# The seed's defaults (4.5 / 2.5) come first, so a tie keeps them.
ENTROPY_HIGH_GRID = (4.5, 4.25, 4.75, 4.0)
ENTROPY_LOW_GRID = (2.5, 3.0, 2.0)
MIN_IOU = 0.5


def split(samples: list[Sample], seed: int) -> tuple[list[Sample], list[Sample], list[Sample]]:
    shuffled = list(samples)
    random.Random(seed).shuffle(shuffled)
    a = round(len(shuffled) * SPLIT[0])
    b = a + round(len(shuffled) * SPLIT[1])
    return shuffled[:a], shuffled[a:b], shuffled[b:]


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter / (max(a[1], b[1]) - min(a[0], b[0])) if inter > 0 else 0.0


def count(gold: list[Span], found: Iterable[PiiFinding], counts: dict[str, Counter[str]]) -> None:
    """Add this text's true positives, false positives and misses, per entity type."""
    unmatched = list(gold)
    for f in found:
        hit = next(
            (
                g
                for g in unmatched
                if g[0] == f.entity_type and _iou(g[1:], (f.start, f.end)) >= MIN_IOU
            ),
            None,
        )
        if hit is None:
            counts["fp"][f.entity_type] += 1
        else:
            unmatched.remove(hit)
            counts["tp"][f.entity_type] += 1
    for g in unmatched:
        counts["fn"][g[0]] += 1


def new_counts() -> dict[str, Counter[str]]:
    return {"tp": Counter(), "fp": Counter(), "fn": Counter()}


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def scores(counts: dict[str, Counter[str]]) -> list[PiiEntityScore]:
    entities = sorted(set(counts["tp"]) | set(counts["fp"]) | set(counts["fn"]))
    out = []
    for e in entities:
        tp, fp, fn = counts["tp"][e], counts["fp"][e], counts["fn"][e]
        p, r, f = prf(tp, fp, fn)
        out.append(PiiEntityScore(entity_type=e, support=tp + fn, precision=p, recall=r, f1=f))
    return out


def _evaluate(
    cached: list[tuple[Sample, list[PiiFinding]]], thresholds: Mapping[str, float]
) -> dict[str, Counter[str]]:
    counts = new_counts()
    for sample, found in cached:
        kept = pii.resolve_overlaps(f for f in found if f.score >= thresholds.get(f.detector, 0.0))
        count(sample.spans, kept, counts)
    return counts


def _entity_f1(counts: dict[str, Counter[str]], entity: str) -> float:
    return prf(counts["tp"][entity], counts["fp"][entity], counts["fn"][entity])[2]


def fit_entropy(train: list[Sample]) -> tuple[float, float]:
    best = (-1.0, 4.5, 2.5)
    for high in ENTROPY_HIGH_GRID:
        for low in ENTROPY_LOW_GRID:
            counts = new_counts()
            for s in train:
                count(s.spans, pii.scan(s.text, entropy_high=high, entropy_low=low), counts)
            f1 = _entity_f1(counts, "SECRET")
            if f1 > best[0]:
                best = (f1, high, low)
    return best[1], best[2]


def fit_thresholds(validate: list[Sample], high: float, low: float) -> dict[str, float]:
    """Per detector, the lowest minimum score with the best F1 of its entity (others fixed)."""
    cached = [(s, pii.candidates(s.text, high, low, {})) for s in validate]
    options: dict[str, set[float]] = {}
    entity_of: dict[str, str] = {}
    for _, found in cached:
        for f in found:
            options.setdefault(f.detector, {0.0}).add(f.score)
            entity_of[f.detector] = f.entity_type
    thresholds: dict[str, float] = {}
    for detector in sorted(options):
        best = (-1.0, 0.0)
        for t in sorted(options[detector]):
            f1 = _entity_f1(_evaluate(cached, {**thresholds, detector: t}), entity_of[detector])
            if f1 > best[0]:
                best = (f1, t)
        thresholds[detector] = best[1]
    return thresholds


def calibrate(samples: int = 2000, seed: int = 7) -> PiiCalibrationReport:
    from naestro.pii.corpus import build_corpus

    train, validate, test = split(build_corpus(samples, seed), seed)
    high, low = fit_entropy(train)
    thresholds = fit_thresholds(validate, high, low)
    counts = new_counts()
    for s in test:
        count(
            s.spans,
            pii.scan(s.text, entropy_high=high, entropy_low=low, thresholds=thresholds),
            counts,
        )
    tp, fp, fn = (sum(counts[k].values()) for k in ("tp", "fp", "fn"))
    return PiiCalibrationReport(
        seed=seed,
        split={"train": len(train), "validate": len(validate), "test": len(test)},
        entropy_high=high,
        entropy_low=low,
        thresholds=thresholds,
        test=scores(counts),
        micro_f1=prf(tp, fp, fn)[2],
    )


def write(report: PiiCalibrationReport, path: str | Path) -> PiiCalibrationReport:
    if not str(path):
        raise ConfigError("no place to write the calibration: set pii.calibration_file")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = report.model_copy(update={"written_to": str(target)})
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(written.model_dump(mode="json"), sort_keys=False))
    tmp.replace(target)  # readers never see half a file
    return written


def load(path: str | Path) -> PiiCalibrationReport | None:
    """The calibration at ``path``, or None when there is none yet."""
    file = Path(path)
    if not str(path) or not file.exists():
        return None
    try:
        return PiiCalibrationReport.model_validate(yaml.safe_load(file.read_text()))
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{file}: not a PII calibration file ({type(exc).__name__})") from None
