"""Parsing what untrusted code leaves behind: JUnit XML, unittest output, summaries."""

from __future__ import annotations

from pathlib import Path

from activities.sandbox.report import (
    MAX_JUNIT_BYTES,
    build_report,
    parse_junit,
    parse_unittest,
    read_junit,
)
from naestro.contracts import TestCaseResult as Case
from naestro.contracts import VerificationReport

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="test_a" name="test_ok" time="0.001"/>
<testcase classname="test_a.TestB" name="test_fail"><failure message="assert 1 == 2">
long traceback</failure></testcase>
<testcase classname="test_a" name="test_err"><error message="fixture blew up"/></testcase>
<testcase classname="test_a" name="test_skip"><skipped message="later"/></testcase>
</testsuite></testsuites>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite><testcase classname="x" name="&lol2;"/></testsuite>"""

UNITTEST_OUTPUT = """test_ok (test_m.T.test_ok) ... ok
test_bad (test_m.T.test_bad)
Checks the sum. ... FAIL
test_boom (test_m.T.test_boom) ... ERROR
test_old (test_m.T) ... ok
test_skip (test_m.T.test_skip) ... skipped 'no reason'

======================================================================
ERROR: test_boom (test_m.T.test_boom)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/work/test_m.py", line 9, in test_boom
    raise RuntimeError("boom")
RuntimeError: boom

======================================================================
FAIL: test_bad (test_m.T.test_bad)
Checks the sum.
----------------------------------------------------------------------
Traceback (most recent call last):
AssertionError: 3 != 2

----------------------------------------------------------------------
Ran 5 tests in 0.001s
"""


def test_junit_outcomes_and_messages() -> None:
    tests = parse_junit(JUNIT)
    assert tests == [
        Case(name="test_a.test_ok", outcome="passed"),
        Case(name="test_a.TestB.test_fail", outcome="failed", message="assert 1 == 2"),
        Case(name="test_a.test_err", outcome="error", message="fixture blew up"),
        Case(name="test_a.test_skip", outcome="skipped", message="later"),
    ]


def test_junit_with_a_dtd_is_refused() -> None:
    assert parse_junit(BILLION_LAUGHS) is None


def test_junit_broken_or_oversized_is_refused() -> None:
    assert parse_junit(b"<testsuite><testcase") is None
    assert parse_junit(b"<testsuite>" + b" " * MAX_JUNIT_BYTES + b"</testsuite>") is None


def test_read_junit_refuses_links_and_missing_files(tmp_path: Path) -> None:
    target = tmp_path / "real.xml"
    target.write_bytes(JUNIT)
    (tmp_path / "link.xml").symlink_to(target)
    assert read_junit(target) == JUNIT
    assert read_junit(tmp_path / "link.xml") is None
    assert read_junit(tmp_path / "missing.xml") is None
    assert read_junit(tmp_path) is None


def test_unittest_verbose_output() -> None:
    assert parse_unittest(UNITTEST_OUTPUT) == [
        Case(name="test_m.T.test_ok", outcome="passed"),
        Case(name="test_m.T.test_bad", outcome="failed", message="AssertionError: 3 != 2"),
        Case(name="test_m.T.test_boom", outcome="error", message="RuntimeError: boom"),
        Case(name="test_m.T.test_old", outcome="passed"),
        Case(name="test_m.T.test_skip", outcome="skipped", message="no reason"),
    ]


def _report(
    *,
    exit_code: int | None = 1,
    timed_out: bool = False,
    junit: bytes | None = JUNIT,
    output: bytes = b"",
    output_total: int = 0,
) -> VerificationReport:
    return build_report(
        backend="bwrap",
        framework="pytest",
        exit_code=exit_code,
        timed_out=timed_out,
        duration_s=0.4123,
        wall_seconds=10.0,
        output=output,
        output_total=output_total,
        junit=junit,
    )


def test_build_report_summaries() -> None:
    report = _report()
    assert report.summary == "1 passed, 1 failed, 1 error, 1 skipped in 0.41s"
    assert not report.passed and report.duration_ms == 412.3
    timed_out = _report(timed_out=True, exit_code=-9, junit=None)
    assert timed_out.summary == "timed out after 10s" and timed_out.timed_out
    assert _report(exit_code=152, junit=None).summary == "killed: CPU time limit"
    memory = _report(exit_code=1, junit=None, output=b"MemoryError\n", output_total=12)
    assert memory.summary == "killed: memory limit"
    plain = _report(exit_code=0, junit=b"not xml")
    assert plain.passed and plain.tests == [] and plain.summary == "exit code 0 in 0.41s"


def test_build_report_notes_truncation() -> None:
    report = _report(output=b"head", output_total=10_000)
    assert report.output_truncated
    assert report.output == "head\n[output truncated: kept the first 4 of 10000 bytes]"
