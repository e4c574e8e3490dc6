"""ruff's JSON output (``ruff check --output-format json``) as a LintReport."""

from __future__ import annotations

import json
from typing import Any

from naestro.contracts import LintFinding, LintReport

MAX_FINDINGS = 200  # the report travels through workflow history
_WORKDIRS = ("/work/", "/tmp/")


def _finding(item: Any) -> LintFinding | None:
    if not isinstance(item, dict):
        return None
    location = item.get("location") if isinstance(item.get("location"), dict) else {}
    path = str(item.get("filename") or "")
    for prefix in _WORKDIRS:
        path = path.removeprefix(prefix)
    row = location.get("row") if isinstance(location, dict) else 0
    return LintFinding(
        code=str(item.get("code") or "error"),
        message=str(item.get("message") or "")[:500],
        path=path,
        line=row if isinstance(row, int) else 0,
    )


def parse_findings(output: bytes) -> list[LintFinding] | None:
    """The findings, or None when the output is not ruff's JSON (truncated, or a crash)."""
    try:
        items = json.loads(output.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    found = [f for f in map(_finding, items) if f is not None]
    return found[:MAX_FINDINGS]


def lint_report(exit_code: int | None, output: bytes, timed_out: bool) -> LintReport:
    if timed_out:
        return LintReport(passed=False, exit_code=None, summary="ruff timed out")
    findings = parse_findings(output)
    if findings is None or exit_code not in (0, 1):
        head = output.decode("utf-8", errors="replace").strip()[:300]
        return LintReport(passed=False, exit_code=exit_code, summary=f"ruff failed: {head}")
    count = len(findings)
    summary = "ruff: clean" if not count else f"ruff: {count} finding{'s' * (count > 1)}"
    return LintReport(passed=count == 0, exit_code=exit_code, findings=findings, summary=summary)
