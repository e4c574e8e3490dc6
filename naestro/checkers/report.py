"""Check results folded into a task's VerificationReport, as one more suite (``checks``):
a check passes or fails exactly as a test does, so quality (naestro/quality.py), the
confidence's verification score (naestro/confidence.py), the refine prompt's feedback and
the judge's view of verification (naestro/prompts.py) take checks with no rule of their
own. Pure (workflows import it).
"""

from __future__ import annotations

import json

from naestro.contracts import SuiteReport, TestCaseResult, VerificationReport
from naestro.contracts.verify import CheckResult, VerifySpec
from naestro.quality import no_tests

SUITE = "checks"
BACKEND = "checks"  # a report of checks alone (no sandbox run)
SCHEMA_CHARS = 3_000  # of the schema, shown to the refiner when its check failed


def _summary(checks: list[CheckResult]) -> str:
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"checks passed: {', '.join(c.checker for c in checks)}"
    return "; ".join(f"{c.checker} check failed: {c.summary}" for c in failed)


def _output(checks: list[CheckResult], spec: VerifySpec | None) -> str:
    lines = [f"{c.checker}: {'passed' if c.passed else 'FAILED'}: {c.summary}" for c in checks]
    schema_failed = any(c.checker == "json_schema" and not c.passed for c in checks)
    if schema_failed and spec is not None and spec.json_schema is not None:
        shown = json.dumps(spec.json_schema, indent=1)
        if len(shown) > SCHEMA_CHARS:
            shown = shown[:SCHEMA_CHARS] + "\n… (truncated)"
        lines.append(f"The answer must be JSON valid against this schema:\n{shown}")
    return "\n".join(lines)


def fold(
    report: VerificationReport | None,
    checks: list[CheckResult],
    spec: VerifySpec | None = None,
) -> VerificationReport | None:
    """``report`` (the sandbox's, None for a task that is no code) with the checks added
    as the ``checks`` suite; ``report`` itself when there are none. The whole passes when
    the sandbox's run did (or collected no test: the judge decides) and every check did."""
    if not checks:
        return report
    passed = all(c.passed for c in checks)
    tests = [
        TestCaseResult(
            name=f"check:{c.checker}",
            outcome="passed" if c.passed else "failed",
            message=c.summary,
            suite=SUITE,
        )
        for c in checks
    ]
    suite = SuiteReport(
        name=SUITE,
        passed=passed,
        exit_code=0 if passed else 1,
        test_count=len(checks),
        failed_count=sum(not c.passed for c in checks),
        summary=_summary(checks),
    )
    output = _output(checks, spec)
    if report is None:
        return VerificationReport(
            backend=BACKEND,
            passed=passed,
            exit_code=suite.exit_code,
            tests=tests,
            output=output,
            summary=suite.summary,
            suites=[suite],
        )
    sandbox_ok = report.passed or no_tests(report)
    return report.model_copy(
        update={
            "passed": sandbox_ok and passed,
            "exit_code": report.exit_code if not sandbox_ok else suite.exit_code,
            "tests": [*report.tests, *tests],
            "output": f"{report.output}\n\n== {SUITE} ==\n{output}".strip(),
            "summary": f"{report.summary}; {suite.summary}" if report.summary else suite.summary,
            "suites": [*report.suites, suite],
        }
    )
