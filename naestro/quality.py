"""How good a candidate answer is, and when refining should stop. Pure (workflows import it).

quality = the judge's score, for tasks without tests (code whose run collected none too);
          0.5 + 0.5 x the judge's score, for code whose tests pass;
          1, for code whose tests pass when the policy asks the judge only about answers
          no passing test verified (review: unverified);
          0.5 x the test score, for code whose tests fail (the judge is not asked about
          code that fails its own tests).
The test score is the fraction of tests passing; when the task showed examples
(naestro/examples.py), its examples weigh 0.6 of it: they are the task's own words, the
model's tests only the model's reading of them.
A task's deterministic checks (an expected maths answer, a JSON schema) count as tests:
naestro/checkers/report.py folds them into the report as one more suite.
A refine round must raise quality by at least ``min_improvement`` (relative, the previous
quality floored at 0.05) or refining stops: the improvement gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from naestro.contracts import JudgeVerdict, SandboxFile, VerificationReport
from naestro.contracts.verify import CheckResult
from naestro.examples import examples_passed

QUALITY_FLOOR = 0.05
PYTEST_NO_TESTS = 5  # pytest's exit code when it collected no test
EXAMPLES_WEIGHT = 0.6


@dataclass(frozen=True)
class Candidate:
    answer: str
    files: list[SandboxFile]
    report: VerificationReport | None
    verdict: JudgeVerdict | None
    quality: float
    accepted_by_tests: bool = False  # passing tests were enough (review: unverified)
    checks: tuple[CheckResult, ...] = ()  # deterministic checks (naestro/checkers/)

    def good_enough(self, threshold: float) -> bool:
        if self.accepted_by_tests:
            return True
        verified = self.report is None or self.report.passed or no_tests(self.report)
        return verified and self.verdict is not None and self.verdict.score >= threshold


def no_tests(report: VerificationReport | None) -> bool:
    """The code ran but held no test (pytest collected none): nothing verified, nothing
    failed; the judge decides."""
    return report is not None and not report.tests and report.exit_code == PYTEST_NO_TESTS


def pass_fraction(report: VerificationReport) -> float:
    if report.passed:
        return 1.0
    if not report.tests:
        return 0.0
    return sum(t.outcome == "passed" for t in report.tests) / len(report.tests)


def test_score(report: VerificationReport) -> float:
    """The pass fraction, the task's own examples weighing EXAMPLES_WEIGHT of it."""
    if report.passed:
        return 1.0
    passed, run = examples_passed(report)
    if not run:
        return pass_fraction(report)
    own = len(report.tests) - run
    own_passed = sum(t.outcome == "passed" for t in report.tests) - passed
    if not own:
        return passed / run
    return EXAMPLES_WEIGHT * passed / run + (1 - EXAMPLES_WEIGHT) * own_passed / own


def failing(answer: str, files: list[SandboxFile], report: VerificationReport) -> Candidate:
    """Code that fails its tests: scored by its test score, no verdict."""
    return Candidate(answer, files, report, None, 0.5 * test_score(report))


def verified(answer: str, files: list[SandboxFile], report: VerificationReport) -> Candidate:
    """Code whose tests pass, accepted without the judge (review: unverified)."""
    return Candidate(answer, files, report, None, 1.0, accepted_by_tests=True)


def passed_tests(report: VerificationReport | None) -> bool:
    """Whether ``report`` verified something: tests ran, and all passed."""
    return report is not None and report.passed and bool(report.tests)


def ranked(reports: list[VerificationReport]) -> list[int]:
    """Proposals' positions, best test score first; equal scores keep their order."""
    return sorted(range(len(reports)), key=lambda i: -test_score(reports[i]))


def judged(
    answer: str,
    files: list[SandboxFile],
    report: VerificationReport | None,
    verdict: JudgeVerdict,
) -> Candidate:
    tested = report is not None and not no_tests(report)
    quality = 0.5 + 0.5 * verdict.score if tested else verdict.score
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
