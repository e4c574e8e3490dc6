"""The suites a VerifyRequest runs and how their reports become one, for every backend.

Without a workspace a run is one suite, ``model``: the request's framework (or command)
over its files, as it always was. With one it is two, one after the other over the same
work dir (the workspace with the model's files written over it), each within the
request's limits:

* ``user``: the user's command (``user_command``, else the workspace's ``test_command``)
  as given, with a JUnit report added when it is pytest or ``node --test``; else its
  language's runner over the workspace's tests: pytest (the model's test files ignored),
  or ``node --test`` over the test files of the unpacked tree that the model did not
  write (reported as failed, not run, when there are none);
* ``model``: the test files the model wrote, with the model's framework (``node`` for a
  javascript workspace unless the request says otherwise); reported as not run, and not
  failing, when it wrote none.

A test file the model wrote belongs to the model's suite, even one the workspace had.
The run passes when every suite passed.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from activities.sandbox.commands import (
    REPORT_NAME,
    USER_REPORT_NAME,
    default_command,
    node_command,
    own_command,
    pytest_command,
    with_report,
)
from activities.sandbox.report import MAX_TESTS
from naestro.contracts import (
    ResourceUse,
    SandboxLimits,
    SuiteReport,
    TestCaseResult,
    VerificationReport,
    VerifyRequest,
)
from naestro.errors import SandboxError

USER, MODEL = "user", "model"
# V8 reserves address space far beyond its heap (code range, pointer cages): node cannot
# start under RLIMIT_AS = memory_mb alone. Its heap is capped by --max-old-space-size and,
# where there is one, the run's memory cgroup caps what it really uses.
NODE_EXTRA_ADDRESS_SPACE_MB = 2048
MAX_SHOWN_ARGS = 32
_PYTHON_TEST = re.compile(r"(^test_.*|.*_test)\.py$")
_NODE_TEST = re.compile(r"(^test|.*[._-]test|^test-.*)\.[cm]?js$")
_NODE_EXT = re.compile(r"\.[cm]?js$")


@dataclass(frozen=True)
class Suite:
    name: str
    framework: str  # how its results are read: pytest | unittest | script | node
    command: list[str]
    junit: str  # the file name of the JUnit report it writes in the work dir ("" none)
    javascript: bool = False

    def env(self, limits: SandboxLimits, site: str | None) -> dict[str, str]:
        """Variables beyond the sandbox's own: the installed dependencies, node's heap."""
        if self.javascript:
            return {"NODE_OPTIONS": f"--max-old-space-size={limits.memory_mb}"}
        return {"PYTHONPATH": site} if site else {}

    def address_space_mb(self, limits: SandboxLimits) -> int:
        extra = NODE_EXTRA_ADDRESS_SPACE_MB if self.javascript else 0
        return limits.memory_mb + extra


@dataclass(frozen=True)
class Plan:
    entries: list[Suite | SuiteReport]  # in order; a SuiteReport: a suite not run
    multi: bool = False  # a workspace run: reports name their suites
    suites: list[Suite] = field(init=False)  # the ones to run

    def __post_init__(self) -> None:
        object.__setattr__(self, "suites", [e for e in self.entries if isinstance(e, Suite)])


def model_framework(request: VerifyRequest) -> str:
    workspace = request.workspace
    if workspace is not None and workspace.language == "javascript":
        return "node" if request.framework == "pytest" else request.framework
    return request.framework


def is_test_file(path: PurePosixPath, framework: str) -> bool:
    """A file the framework's runner would pick up by name."""
    if framework == "node":
        return bool(_NODE_TEST.match(path.name)) or (
            "test" in path.parts[:-1] and bool(_NODE_EXT.search(path.name))
        )
    return bool(_PYTHON_TEST.match(path.name))


def _is_node(command: list[str]) -> bool:
    return PurePosixPath(command[0]).name in ("node", "nodejs")


def _framework_of(command: list[str]) -> str:
    return "unittest" if command[1:3] == ["-m", "unittest"] else "pytest"


def _not_run(name: str, why: str, passed: bool) -> SuiteReport:
    return SuiteReport(name=name, passed=passed, exit_code=None, summary=f"not run: {why}")


def _user_suite(
    request: VerifyRequest,
    python: str,
    model_tests: list[str],
    tree: Sequence[PurePosixPath],
) -> Suite | SuiteReport:
    assert request.workspace is not None
    javascript = request.workspace.language == "javascript"
    own = request.user_command or request.workspace.test_command
    if own:
        command, reported = with_report(own_command(own, python), USER_REPORT_NAME)
        framework = "node" if _is_node(command) else _framework_of(command)
        junit = USER_REPORT_NAME if reported else ""
        return Suite(USER, framework, command, junit, javascript or _is_node(command))
    if javascript:
        theirs = [
            str(path)
            for path in tree
            if "node_modules" not in path.parts
            and is_test_file(path, "node")
            and str(path) not in model_tests
        ]
        if not theirs:
            return _not_run(USER, "the workspace has no test files", passed=False)
        return Suite(USER, "node", node_command(USER_REPORT_NAME, theirs), USER_REPORT_NAME, True)
    ignored = [f"--ignore={path}" for path in model_tests]
    command = pytest_command(python, USER_REPORT_NAME, ignored)
    return Suite(USER, "pytest", command, USER_REPORT_NAME)


def _model_suite(
    request: VerifyRequest, python: str, files: list[tuple[PurePosixPath, str]]
) -> Suite | SuiteReport:
    framework = model_framework(request)
    junit = REPORT_NAME if framework in ("pytest", "node") else ""
    if request.workspace is None or request.command or framework == "script":
        framed = request.model_copy(update={"framework": framework})
        command = default_command(framed, python, files)
        return Suite(MODEL, framework, command, junit, framework == "node" or _is_node(command))
    tests = _model_tests(request, files)
    if not tests:
        return _not_run(MODEL, "the model wrote no tests", passed=True)
    if framework == "node":
        return Suite(MODEL, framework, node_command(REPORT_NAME, tests), junit, True)
    if framework == "unittest":
        return Suite(MODEL, framework, [python, "-m", "unittest", "-v", *tests], junit)
    return Suite(MODEL, framework, pytest_command(python, REPORT_NAME, tests), junit)


def _model_tests(request: VerifyRequest, files: list[tuple[PurePosixPath, str]]) -> list[str]:
    framework = model_framework(request)
    return [str(path) for path, _ in files if is_test_file(path, framework)]


def plan(
    request: VerifyRequest,
    files: list[tuple[PurePosixPath, str]],
    python: str,
    tree: Sequence[PurePosixPath] = (),
) -> Plan:
    """The suites to run, in order; ``python`` is the sandbox's interpreter, ``tree`` the
    work dir's files once the workspace is unpacked (where the user's node tests are)."""
    model = _model_suite(request, python, files)
    if request.workspace is None:
        assert isinstance(model, Suite)  # only a workspace run skips the model's suite
        return Plan([model])
    user = _user_suite(request, python, _model_tests(request, files), tree)
    return Plan([user, model], multi=True)


def needs_tree(request: VerifyRequest) -> bool:
    """Whether planning needs the unpacked tree (the user's node tests are found in it)."""
    workspace = request.workspace
    own = request.user_command or (workspace.test_command if workspace else None)
    return workspace is not None and workspace.language == "javascript" and not own


def tree_files(root: Path) -> list[PurePosixPath]:
    """The work dir's files, relative (``.git`` and ``node_modules`` not entered)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "node_modules"))
        base = PurePosixPath(Path(dirpath).relative_to(root))
        found += [base / name for name in sorted(filenames)]
    return found


def missing_runtime(suite: Suite, exit_code: int | None, output: bytes) -> None:
    """SandboxError when the sandbox lacks the runner our own command needs (not: a user's
    command that names a program the sandbox does not have, which is their failure)."""
    head = suite.command[0]
    said = f"naestro runner: cannot run {head!r}".encode()
    if exit_code == 127 and output.startswith(said) and _is_node(suite.command):
        raise SandboxError(
            "node is not installed in this sandbox: JavaScript needs node >= 20.11 "
            "(bubblewrap: apt-get install nodejs on the worker host; Docker: an image with node)"
        )


def shown(command: list[str]) -> list[str]:
    """A command as reports show it: a long list of test files cut short (history)."""
    if len(command) <= MAX_SHOWN_ARGS:
        return command
    return [*command[:MAX_SHOWN_ARGS], f"... ({len(command) - MAX_SHOWN_ARGS} more)"]


def suite_report(suite: Suite, report: VerificationReport) -> SuiteReport:
    return SuiteReport(
        name=suite.name,
        passed=report.passed,
        exit_code=report.exit_code,
        timed_out=report.timed_out,
        duration_ms=report.duration_ms,
        test_count=len(report.tests),
        failed_count=len(report.failed_tests),
        summary=report.summary,
        command=shown(suite.command),
    )


def _labelled(suite: str, tests: list[TestCaseResult]) -> list[TestCaseResult]:
    return [t.model_copy(update={"suite": suite}) for t in tests]


def _resources(reports: list[VerificationReport]) -> ResourceUse | None:
    used = [r.resources for r in reports if r.resources is not None]
    if not used:
        return None
    return ResourceUse(
        max_rss_kb=max(u.max_rss_kb for u in used),
        cpu_seconds=round(sum(u.cpu_seconds for u in used), 3),
    )


def combine(backend: str, plan: Plan, reports: list[VerificationReport]) -> VerificationReport:
    """One report from each run suite's (in ``plan.suites`` order)."""
    runs = list(zip(plan.suites, reports, strict=True))
    if not plan.multi:
        [(suite, report)] = runs
        labelled = _labelled(suite.name, report.tests)
        one = [suite_report(suite, report)]
        return report.model_copy(update={"tests": labelled, "suites": one})
    ran = iter(runs)
    entries = [e if isinstance(e, SuiteReport) else suite_report(*next(ran)) for e in plan.entries]
    failing = next((s for s in entries if not s.passed), None)
    tests = [t for s, r in runs for t in _labelled(s.name, r.tests)][:MAX_TESTS]
    output = "\n".join(
        f"===== {s.name} tests: {shlex.join(shown(s.command))} =====\n{r.output}" for s, r in runs
    )
    return VerificationReport(
        backend=backend,
        passed=failing is None,
        exit_code=failing.exit_code if failing is not None else 0,
        timed_out=any(r.timed_out for r in reports),
        duration_ms=round(sum(r.duration_ms for r in reports), 1),
        tests=tests,
        output=output,
        output_truncated=any(r.output_truncated for r in reports),
        summary="; ".join(f"{s.name} tests: {s.summary}" for s in entries),
        resources=_resources(reports),
        suites=entries,
    )
