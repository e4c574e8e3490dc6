"""How good a candidate answer is, and when refining should stop. Pure (workflows import it).

quality = the judge's score, for tasks without tests;
          0.5 + 0.5 x the judge's score, for code whose tests pass;
          0.5 x the fraction of tests passing, for code whose tests fail (the judge is not
          asked about code that fails its own tests).
A refine round must raise quality by at least ``min_improvement`` (relative, the previous
quality floored at 0.05) or refining stops: the improvement gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from naestro.contracts import JudgeVerdict, SandboxFile, VerificationReport

QUALITY_FLOOR = 0.05


@dataclass(frozen=True)
class Candidate:
    answer: str
    files: list[SandboxFile]
    report: VerificationReport | None
    verdict: JudgeVerdict | None
    quality: float

    def good_enough(self, threshold: float) -> bool:
        verified = self.report is None or self.report.passed
        return verified and self.verdict is not None and self.verdict.score >= threshold


def pass_fraction(report: VerificationReport) -> float:
    if report.passed:
        return 1.0
    if not report.tests:
        return 0.0
    return sum(t.outcome == "passed" for t in report.tests) / len(report.tests)


def failing(answer: str, files: list[SandboxFile], report: VerificationReport) -> Candidate:
    """Code that fails its tests: scored by the fraction passing, no verdict."""
    return Candidate(answer, files, report, None, 0.5 * pass_fraction(report))


def judged(
    answer: str,
    files: list[SandboxFile],
    report: VerificationReport | None,
    verdict: JudgeVerdict,
) -> Candidate:
    quality = 0.5 + 0.5 * verdict.score if report is not None else verdict.score
    return Candidate(answer, files, report, verdict, quality)


def better(best: Candidate | None, current: Candidate) -> Candidate:
    """The best so far: a later candidate wins ties."""
    return current if best is None or current.quality >= best.quality else best


def improvement_stop(previous: Candidate | None, current: Candidate, min_gain: float) -> str:
    """Why refining should stop after ``current`` ("" to go on)."""
    if previous is None:
        return ""
    gain = (current.quality - previous.quality) / max(previous.quality, QUALITY_FLOOR)
    if gain >= min_gain:
        return ""
    return (
        f"improvement gate: quality {previous.quality:.2f} -> {current.quality:.2f} "
        f"is below +{min_gain:.0%}"
    )
