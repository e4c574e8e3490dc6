"""The commands a VerifyRequest runs inside a sandbox, the same for every backend."""

from __future__ import annotations

from pathlib import PurePosixPath

from naestro.contracts import VerifyRequest
from naestro.errors import SandboxError

WORKDIR = "/work"  # the work dir's path inside every sandbox
REPORT_NAME = ".naestro-junit.xml"  # the model's suite's JUnit report, in the work dir
USER_REPORT_NAME = ".naestro-user-junit.xml"  # the user's suite's
LINT_COMMAND = ["ruff", "check", "--isolated", "--no-cache", "--output-format", "json", "."]


def default_command(
    request: VerifyRequest, python: str, files: list[tuple[PurePosixPath, str]]
) -> list[str]:
    """The request's own command (``python``/``python3`` meaning ``python``), else the
    framework's: pytest with a JUnit report, ``unittest -v``, ``node --test`` with a JUnit
    report, or the script (main.py or the first file)."""
    if request.command:
        return own_command(request.command, python)
    if request.framework == "pytest":
        return pytest_command(python, REPORT_NAME)
    if request.framework == "unittest":
        return [python, "-m", "unittest", "-v"]
    if request.framework == "node":
        return node_command(REPORT_NAME)
    if not files:
        raise SandboxError("the script framework needs at least one file to run")
    names = [str(path) for path, _ in files]
    return [python, "main.py" if "main.py" in names else names[0]]


def own_command(command: list[str], python: str) -> list[str]:
    head, *rest = command
    return [python if head in ("python", "python3") else head, *rest]


def pytest_command(python: str, report: str, paths: list[str] | None = None) -> list[str]:
    junit = f"--junitxml={WORKDIR}/{report}"
    return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", junit, *(paths or [])]


def _node_reporters(report: str) -> list[str]:
    # Human-readable output on stdout (the report's output) and JUnit into the work dir.
    return [
        "--test-reporter=spec", "--test-reporter-destination=stdout",
        "--test-reporter=junit", f"--test-reporter-destination={WORKDIR}/{report}",
    ]  # fmt: skip


def node_command(report: str, paths: list[str] | None = None) -> list[str]:
    """Node's built-in runner (node >= 20.11 for the JUnit reporter) over ``paths``, else
    over the files its default patterns find (``*.test.js``, ``test/``...)."""
    return ["node", "--test", *_node_reporters(report), *(paths or [])]


def with_report(command: list[str], report: str) -> tuple[list[str], bool]:
    """A user's own command with a JUnit report added when it is pytest or ``node --test``
    without a reporter of its own; and whether it will write one."""
    head = PurePosixPath(command[0]).name
    is_pytest = head in ("pytest", "py.test") or command[1:3] == ["-m", "pytest"]
    if is_pytest:
        if any(arg.startswith("--junitxml") or arg.startswith("--junit-xml") for arg in command):
            return command, False
        return [*command, f"--junitxml={WORKDIR}/{report}"], True
    if head in ("node", "nodejs") and "--test" in command:
        if any(arg.startswith("--test-reporter") for arg in command):
            return command, False
        at = command.index("--test") + 1  # options after the test files would be ignored
        return [*command[:at], *_node_reporters(report), *command[at:]], True
    return command, False
