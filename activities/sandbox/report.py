"""Turn what a sandboxed run left behind (exit status, output, JUnit XML) into a report.

Everything parsed here was written by untrusted code: sizes are capped, the JUnit file is
opened without following links, and XML with a DTD is refused outright so that no entity
is ever declared, let alone expanded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
from collections import Counter
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from naestro.contracts import ResourceUse, TestCaseResult, VerificationReport

MAX_JUNIT_BYTES = 5 * 1024 * 1024
MAX_TESTS = 1000  # the report travels through workflow history (2 MB limit)
MAX_MESSAGE_CHARS = 2000

# Exit codes bwrap passes on for a command killed by a signal (128 + signal number).
_SIGNAL_CAUSES = {
    128 + signal.SIGXCPU: "killed: CPU time limit",
    128 + signal.SIGXFSZ: "killed: file size limit",
    128 + signal.SIGKILL: "killed: SIGKILL",
    128 + signal.SIGSEGV: "crashed: SIGSEGV",
}
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_UNITTEST_LINE = re.compile(
    r"^(?P<test>\w+) \((?P<where>[\w.]+)\)(?:\n[^\n]*?)? \.\.\. "
    r"(?P<status>ok|FAIL|ERROR|skipped(?: .*)?|expected failure|unexpected success)$",
    re.MULTILINE,
)
_UNITTEST_FAILURE = re.compile(
    r"^(?:FAIL|ERROR): (?P<test>\w+) \((?P<where>[\w.]+)\)[^\n]*\n(?:[^\n-][^\n]*\n)?-{20,}\n"
    r"(?P<body>.*?)(?=^={20,}|^-{20,}|\Z)",
    re.MULTILINE | re.DOTALL,
)
_UNITTEST_OUTCOME = {
    "ok": "passed",
    "expected failure": "passed",
    "FAIL": "failed",
    "unexpected success": "failed",
    "ERROR": "error",
}


def read_junit(path: Path) -> bytes | None:
    """The JUnit file's bytes, or None if it is missing, not a regular file or too big."""
    # O_NOFOLLOW: the sandboxed code can replace the file with a link to a host file that
    # only this (privileged) process could read. O_NONBLOCK: or with a FIFO that never ends.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_JUNIT_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(MAX_JUNIT_BYTES + 1)
    finally:
        os.close(fd)


def _clip(text: str | None) -> str:
    return (text or "").strip()[:MAX_MESSAGE_CHARS]


def _junit_case(case: ElementTree.Element) -> TestCaseResult:
    classname, name = case.get("classname", ""), case.get("name", "?")
    full = f"{classname}.{name}" if classname else name
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        found = case.find(tag)
        if found is not None:
            message = found.get("message") or found.text
            return TestCaseResult(name=full, outcome=outcome, message=_clip(message))
    return TestCaseResult(name=full, outcome="passed")


def _nested_cases(root: ElementTree.Element) -> list[TestCaseResult]:
    """Node's JUnit: a test's name is its ``describe`` path (classname says only "test").
    Walked with a stack, not recursion: the file is untrusted and may nest deeply."""
    found: list[TestCaseResult] = []
    # popped in document order
    stack: list[tuple[ElementTree.Element, tuple[str, ...]]] = [(c, ()) for c in reversed(root)]
    while stack and len(found) < MAX_TESTS:
        element, path = stack.pop()
        name = element.get("name", "?")
        if element.tag == "testsuite":
            stack += [(child, (*path, name)) for child in reversed(element)]
        elif element.tag == "testcase":
            case = _junit_case(element)
            found.append(case.model_copy(update={"name": " > ".join((*path, name))}))
    return found


def parse_junit(data: bytes, *, nested: bool = False) -> list[TestCaseResult] | None:
    """Test cases from pytest's --junitxml output (``nested``: node's JUnit reporter's);
    None when it cannot be trusted or read."""
    if len(data) > MAX_JUNIT_BYTES or _DTD.search(data):
        return None
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    if nested:
        return _nested_cases(root)[:MAX_TESTS]
    return [_junit_case(case) for case in root.iter("testcase")][:MAX_TESTS]


def _unittest_name(test: str, where: str) -> str:
    # Python >= 3.11 prints "test_x (mod.Class.test_x)", older ones "test_x (mod.Class)".
    return where if where.endswith(f".{test}") else f"{where}.{test}"


def parse_unittest(output: str) -> list[TestCaseResult]:
    """Test cases from ``python -m unittest -v`` output."""
    messages = {
        _unittest_name(m["test"], m["where"]): _last_line(m["body"])
        for m in _UNITTEST_FAILURE.finditer(output)
    }
    results = []
    for match in _UNITTEST_LINE.finditer(output):
        name, status = _unittest_name(match["test"], match["where"]), match["status"]
        if status.startswith("skipped"):
            reason = status.removeprefix("skipped").strip().strip("'\"")
            results.append(TestCaseResult(name=name, outcome="skipped", message=_clip(reason)))
            continue
        outcome = _UNITTEST_OUTCOME[status]
        message = messages.get(name, "") if outcome != "passed" else ""
        results.append(TestCaseResult(name=name, outcome=outcome, message=message))
    return results[:MAX_TESTS]


def _last_line(body: str) -> str:
    lines = [line for line in body.strip().splitlines() if line.strip()]
    return _clip(lines[-1]) if lines else ""


def _counts(tests: list[TestCaseResult]) -> str:
    counts = Counter(t.outcome for t in tests)
    parts = []
    for outcome in ("passed", "failed", "error", "skipped"):
        n = counts[outcome]
        if n:
            parts.append(f"{n} {'errors' if outcome == 'error' and n > 1 else outcome}")
    return ", ".join(parts)


def _cause(exit_code: int | None, output: str) -> str | None:
    """Why the run ended badly, when the exit status or the output says so (a hint only:
    untrusted code can fake either)."""
    if exit_code in _SIGNAL_CAUSES:
        return _SIGNAL_CAUSES[exit_code]
    if exit_code not in (0, None) and "MemoryError" in output:
        return "killed: memory limit"
    return None


def summarize(
    framework: str,
    tests: list[TestCaseResult],
    exit_code: int | None,
    timed_out: bool,
    duration_s: float,
    wall_seconds: float,
    output: str,
) -> str:
    if timed_out:
        return f"timed out after {wall_seconds:g}s"
    cause = _cause(exit_code, output)
    if not tests and cause:
        return cause
    if not tests:
        # pytest's "no tests collected" must not read like a crash to whoever refines code.
        empty = " (no tests collected)" if framework == "pytest" and exit_code == 5 else ""
        return f"exit code {exit_code}{empty} in {duration_s:.2f}s"
    summary = f"{_counts(tests)} in {duration_s:.2f}s"
    return f"{summary} ({cause})" if cause else summary


def build_report(
    *,
    backend: str,
    framework: str,
    exit_code: int | None,
    timed_out: bool,
    duration_s: float,
    wall_seconds: float,
    output: bytes,
    output_total: int,
    junit: bytes | None,
) -> VerificationReport:
    text = output.decode("utf-8", errors="replace")
    truncated = output_total > len(output)
    tests: list[TestCaseResult] = []
    if junit is not None:
        tests = parse_junit(junit, nested=framework == "node") or []
    elif framework == "unittest":
        tests = parse_unittest(text)
    summary = summarize(framework, tests, exit_code, timed_out, duration_s, wall_seconds, text)
    if truncated:
        text += f"\n[output truncated: kept the first {len(output)} of {output_total} bytes]"
    return VerificationReport(
        backend=backend,
        passed=exit_code == 0 and not timed_out,
        exit_code=exit_code,
        timed_out=timed_out,
        duration_ms=round(duration_s * 1000, 1),
        tests=tests,
        output=text,
        output_truncated=truncated,
        summary=summary,
    )


def resource_use(trailer: dict[str, object]) -> ResourceUse | None:
    """The runner's measurements, when it got as far as reporting them."""
    rss, cpu = trailer.get("max_rss_kb"), trailer.get("cpu_s")
    if not isinstance(rss, int) or not isinstance(cpu, int | float):
        return None
    return ResourceUse(max_rss_kb=max(rss, 0), cpu_seconds=max(float(cpu), 0.0))


def parse_trailer(stderr: bytes) -> dict[str, Any]:
    """The runner's JSON trailer: the last line of its stderr ({} when it never wrote one,
    e.g. killed at the wall-time limit)."""
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
