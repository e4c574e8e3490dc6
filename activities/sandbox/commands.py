"""The command a VerifyRequest runs inside a sandbox, the same for every backend."""

from __future__ import annotations

from pathlib import PurePosixPath

from naestro.contracts import VerifyRequest
from naestro.errors import SandboxError

WORKDIR = "/work"  # the work dir's path inside every sandbox
REPORT_NAME = ".naestro-junit.xml"
LINT_COMMAND = ["ruff", "check", "--isolated", "--no-cache", "--output-format", "json", "."]


def default_command(
    request: VerifyRequest, python: str, files: list[tuple[PurePosixPath, str]]
) -> list[str]:
    """The request's own command (``python``/``python3`` meaning ``python``), else the
    framework's: pytest with a JUnit report, ``unittest -v``, or the script (main.py or the
    first file)."""
    if request.command:
        head, *rest = request.command
        return [python if head in ("python", "python3") else head, *rest]
    if request.framework == "pytest":
        report = f"--junitxml={WORKDIR}/{REPORT_NAME}"
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", report]
    if request.framework == "unittest":
        return [python, "-m", "unittest", "-v"]
    if not files:
        raise SandboxError("the script framework needs at least one file to run")
    names = [str(path) for path, _ in files]
    return [python, "main.py" if "main.py" in names else names[0]]
