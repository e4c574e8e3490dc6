"""Which suites a request runs, with which commands, and how their reports add up (pure)."""

from __future__ import annotations

from pathlib import PurePosixPath

from activities.sandbox import suites
from activities.sandbox.commands import default_command, with_report
from naestro.contracts import SandboxFile, VerificationReport, VerifyRequest
from naestro.contracts import TestCaseResult as Case  # not collected as a test class
from naestro.contracts.blobs import BlobRef
from naestro.contracts.verify import WorkspaceSpec

PY = "/usr/bin/python3"
REF = BlobRef(sha256="0" * 64, size=1)
JUNIT_USER = "--junitxml=/work/.naestro-user-junit.xml"


def _files(*paths: str) -> list[tuple[PurePosixPath, str]]:
    return [(PurePosixPath(p), "") for p in paths]


def _request(paths: list[str], **workspace: object) -> VerifyRequest:
    spec = WorkspaceSpec.model_validate({"archive": REF, **workspace})
    files = [SandboxFile(path=p, content="") for p in paths]
    return VerifyRequest(files=files, workspace=spec)


def test_without_a_workspace_the_model_suite_runs_as_before() -> None:
    request = VerifyRequest(files=[SandboxFile(path="test_a.py", content="")])
    plan = suites.plan(request, _files("test_a.py"), PY)
    [suite] = plan.suites
    assert not plan.multi and suite.name == "model" and suite.junit == ".naestro-junit.xml"
    assert suite.command == default_command(request, PY, _files("test_a.py"))


def test_python_workspace_the_models_tests_are_its_own() -> None:
    paths = ["pkg/new.py", "tests/test_new.py", "extra_test.py"]
    plan = suites.plan(_request(paths), _files(*paths), PY)
    user, model = plan.suites
    assert user.command == [
        PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", JUNIT_USER,
        "--ignore=tests/test_new.py", "--ignore=extra_test.py",
    ]  # fmt: skip
    assert model.command[-2:] == ["tests/test_new.py", "extra_test.py"]
    assert not user.javascript and user.env(VerifyRequest(files=[]).limits, "/s") == {
        "PYTHONPATH": "/s"
    }


def test_a_model_without_tests_leaves_the_user_suite_to_decide() -> None:
    plan = suites.plan(_request(["pkg/new.py"]), _files("pkg/new.py"), PY)
    assert [s.name for s in plan.suites] == ["user"]
    [_, skipped] = plan.entries
    assert isinstance(skipped, suites.SuiteReport) and skipped.passed
    user = VerificationReport(backend="bwrap", passed=True, exit_code=0, summary="3 passed")
    report = suites.combine("bwrap", plan, [user])
    assert report.passed and [s.name for s in report.suites] == ["user", "model"]
    assert report.summary == "user tests: 3 passed; model tests: not run: the model wrote no tests"


def test_javascript_workspace_finds_the_users_node_tests_in_the_tree() -> None:
    request = _request(["lib/x.js", "x.test.js"], language="javascript")
    tree = [
        PurePosixPath(p)
        for p in ("lib/x.js", "x.test.js", "test/a.js", "b.test.mjs", "node_modules/m/t.test.js")
    ]
    plan = suites.plan(request, _files("lib/x.js", "x.test.js"), PY, tree)
    user, model = plan.suites
    assert user.framework == model.framework == "node" and user.javascript
    assert user.command[:2] == ["node", "--test"] and user.command[-2:] == [
        "test/a.js",
        "b.test.mjs",
    ]
    assert model.command[-1] == "x.test.js"
    assert suites.needs_tree(request)
    lonely = suites.plan(request, _files("lib/x.js", "x.test.js"), PY, tree[:2])
    [user_entry, _] = lonely.entries
    assert isinstance(user_entry, suites.SuiteReport) and not user_entry.passed
    report = suites.combine(
        "bwrap", lonely, [VerificationReport(backend="bwrap", passed=True, exit_code=0)]
    )
    assert not report.passed and report.exit_code is None


def test_the_users_command_wins_and_gets_a_report_when_it_can() -> None:
    request = _request(["a.py"], test_command=["pytest", "-x"]).model_copy(
        update={"user_command": ["python", "-m", "pytest", "tests"]}
    )
    user = suites.plan(request, _files("a.py"), PY).suites[0]
    assert user.command == [PY, "-m", "pytest", "tests", JUNIT_USER]
    assert with_report(["node", "--test", "t/"], "r.xml")[0][:3] == [
        "node", "--test", "--test-reporter=spec",
    ]  # fmt: skip
    assert with_report(["node", "--test", "--test-reporter=tap"], "r.xml") == (
        ["node", "--test", "--test-reporter=tap"],
        False,
    )
    assert with_report(["make", "check"], "r.xml") == (["make", "check"], False)


def test_combined_reports_label_tests_and_keep_the_first_failure() -> None:
    plan = suites.plan(_request(["test_m.py"]), _files("test_m.py"), PY)
    user = VerificationReport(
        backend="bwrap",
        passed=False,
        exit_code=1,
        tests=[Case(name="t.test_u", outcome="failed")],
        output="U",
        summary="1 failed",
    )
    model = VerificationReport(
        backend="bwrap",
        passed=True,
        exit_code=0,
        tests=[Case(name="test_m.test_x", outcome="passed")],
        output="M",
        summary="1 passed",
    )
    report = suites.combine("bwrap", plan, [user, model])
    assert (report.passed, report.exit_code) == (False, 1)
    assert [(t.name, t.suite) for t in report.tests] == [
        ("t.test_u", "user"),
        ("test_m.test_x", "model"),
    ]
    assert report.tests_of("user") == [report.tests[0]] and report.failed_tests == [report.tests[0]]
    assert report.output.startswith("===== user tests: ") and report.output.endswith("M")
    assert [(s.name, s.failed_count) for s in report.suites] == [("user", 1), ("model", 0)]
