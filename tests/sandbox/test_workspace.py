"""Workspaces end to end on real bubblewrap: archives from the real blob store (Postgres),
dependencies from a wheel cache the test builds, the user's and the model's suites, node."""

from __future__ import annotations

import asyncio
import os
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.sandbox import BwrapSandbox, Sandbox, SandboxActivities
from activities.sandbox.docker import DockerSandbox
from naestro import db
from naestro.blobs import BlobStore, ref_of
from naestro.client import start_task
from naestro.contracts import SandboxFile, TaskRequest, VerificationReport, VerifyJob, VerifyRequest
from naestro.contracts.verify import VerifySpec, WorkspaceSpec
from naestro.names import VERIFY_WORKFLOW
from tests.sandbox.archives import (
    git_bundle,
    member,
    tar_gz,
    tar_of,
    tar_with,
    write_wheel,
    zip_of,
)
from tests.sandbox.conftest import FAST
from tests.support import make_settings, replay_provider, running_workers, write_script

pytestmark = pytest.mark.timeout(120)

TINYDEP = {"tinydep/__init__.py": "def double(x):\n    return 2 * x\n"}
PYTHON_WORKSPACE = {
    "calc/__init__.py": "from tinydep import double\n\n\ndef quadruple(x):\n"
    "    return double(double(x))\n",
    "tests/test_calc.py": "import tinydep\nfrom calc import quadruple\n\n\n"
    "def test_quadruple():\n    assert quadruple(2) == 8\n\n\n"
    "def test_dependency():\n    assert tinydep.double(3) == 6\n",
}
MODEL_FILES = [
    SandboxFile(
        path="calc/extra.py",
        content="from calc import quadruple\n\n\ndef octuple(x):\n    return 2 * quadruple(x)\n",
    ),
    SandboxFile(
        path="tests/test_extra.py",
        content="from calc.extra import octuple\n\n\ndef test_octuple():\n"
        "    assert octuple(1) == 8\n",
    ),
]
JS_WORKSPACE = {
    "package.json": '{"name": "mathlib", "type": "commonjs"}\n',
    "lib/math.js": "exports.add = (a, b) => a + b;\n",
    "test/math.test.js": "const test = require('node:test');\n"
    "const assert = require('node:assert');\nconst { add } = require('../lib/math');\n"
    "test('adds', () => assert.strictEqual(add(1, 2), 3));\n",
}
JS_MODEL_TESTS = """const test = require('node:test');
const assert = require('node:assert');
const { mul } = require('./lib/mul');
test('multiplies', () => assert.strictEqual(mul(2, 3), 6));
test('is wrong', () => assert.strictEqual(mul(2, 2), 5, 'two twos are not five'));
"""


@pytest.fixture(scope="module")
def wheel_cache() -> Iterator[Path]:
    # Not under pytest's tmp dir (mode 0700): the sandbox user binds it.
    cache = Path(tempfile.mkdtemp(prefix="naestro-wheels-"))
    cache.chmod(0o755)
    write_wheel(cache, "tinydep", "1.0", TINYDEP)
    yield cache
    shutil.rmtree(cache)


@pytest.fixture(scope="module")
async def sandbox(wheel_cache: Path) -> AsyncIterator[BwrapSandbox]:
    made = BwrapSandbox(wheel_cache=str(wheel_cache))
    yield made
    await made.aclose()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[BlobStore]:
    pool = await db.create_pool(db_url, 2)
    yield BlobStore(pool)
    await pool.close()


async def _verify(
    sandbox: Sandbox,
    store: BlobStore,
    archive: bytes,
    files: list[SandboxFile],
    **spec: object,
) -> VerificationReport:
    ref = await store.put(archive)
    workspace = WorkspaceSpec.model_validate({"archive": ref, **spec})
    request = VerifyRequest(files=files, workspace=workspace, limits=FAST)
    activities = SandboxActivities(sandbox, blobs=store.get)
    return await ActivityEnvironment().run(activities.verify, request)


def _outcomes(report: VerificationReport, suite: str) -> set[tuple[str, str]]:
    return {(t.name, t.outcome) for t in report.tests_of(suite)}


async def test_user_and_model_suites_with_a_cached_dependency(
    sandbox: BwrapSandbox, store: BlobStore
) -> None:
    archive = tar_gz(PYTHON_WORKSPACE)
    report = await _verify(sandbox, store, archive, MODEL_FILES, dependencies=["tinydep>=1.0"])
    assert report.passed, report.output
    assert [(s.name, s.passed, s.test_count) for s in report.suites] == [
        ("user", True, 2),
        ("model", True, 1),
    ]
    # The model's test file is its suite's alone.
    assert _outcomes(report, "user") == {
        ("tests.test_calc.test_quadruple", "passed"),
        ("tests.test_calc.test_dependency", "passed"),
    }
    assert _outcomes(report, "model") == {("tests.test_extra.test_octuple", "passed")}
    assert report.summary.startswith("user tests: 2 passed in ")
    assert "===== user tests: " in report.output and "===== model tests: " in report.output
    # Another run with the same dependencies installs nothing again.
    again = await _verify(sandbox, store, archive, MODEL_FILES[:1], dependencies=["tinydep>=1.0"])
    assert again.passed and not again.cached, again.output
    model = again.suite("model")
    assert model is not None and model.summary == "not run: the model wrote no tests"
    assert len(list(sandbox._installs.root.iterdir())) == 1


async def test_a_model_change_that_breaks_the_users_tests_fails_the_run(
    sandbox: BwrapSandbox, store: BlobStore
) -> None:
    broken = SandboxFile(path="calc/__init__.py", content="def quadruple(x):\n    return 3 * x\n")
    tests = SandboxFile(
        path="test_own.py",
        content="from calc import quadruple\n\n\ndef test_zero():\n    assert quadruple(0) == 0\n",
    )
    report = await _verify(
        sandbox, store, tar_gz(PYTHON_WORKSPACE), [broken, tests], dependencies=["tinydep"]
    )
    assert not report.passed
    user, model = report.suites
    assert (user.passed, user.failed_count, model.passed) == (False, 1, True)
    assert ("tests.test_calc.test_quadruple", "failed") in _outcomes(report, "user")
    assert report.exit_code == user.exit_code == 1
    assert report.summary.startswith("user tests: 1 passed, 1 failed in ")


async def test_a_dependency_missing_from_the_cache_is_named(
    sandbox: BwrapSandbox, store: BlobStore, bwrap_sandbox: BwrapSandbox
) -> None:
    archive = tar_gz(PYTHON_WORKSPACE)
    absent = await _verify(sandbox, store, archive, [], dependencies=["tinydep", "nowhere>=1"])
    assert not absent.passed and absent.suites == []
    assert absent.missing_dependencies == ["nowhere>=1"]
    assert absent.summary == "dependencies not in the worker's wheel cache: nowhere>=1"
    # The cache has tinydep, but not a version that satisfies this: pip says so.
    too_new = await _verify(sandbox, store, archive, [], dependencies=["tinydep>=2"])
    assert too_new.missing_dependencies == ["tinydep>=2"]
    assert "No matching distribution found for tinydep>=2" in too_new.output
    # A worker without a wheel cache says where the cache is configured.
    none = await _verify(bwrap_sandbox, store, archive, [], dependencies=["tinydep"])
    assert none.missing_dependencies == ["tinydep"]
    assert "sandbox.wheel_cache" in none.summary


@pytest.mark.parametrize(
    "archive,named",
    [
        (tar_of([("../../evil.py", b"print('escaped')")], "w:gz"), "'../../evil.py'"),
        (tar_of([("/etc/cron.d/naestro-evil", b"")]), "'/etc/cron.d/naestro-evil'"),
        (zip_of({"../evil.py": ""}), "'../evil.py'"),
    ],
    ids=["dot-dot", "absolute", "zip dot-dot"],
)
async def test_a_malicious_archive_is_refused_and_not_retried(
    sandbox: BwrapSandbox, store: BlobStore, archive: bytes, named: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await _verify(sandbox, store, archive, MODEL_FILES)
    assert caught.value.type == "WorkspaceError" and caught.value.non_retryable
    assert f"workspace refused: member {named}" in caught.value.message
    assert not await asyncio.to_thread(os.path.exists, "/etc/cron.d/naestro-evil")


async def test_a_symlink_out_of_the_workspace_is_refused(
    sandbox: BwrapSandbox, store: BlobStore
) -> None:
    def link(repo: Path) -> None:
        (repo / "secrets").symlink_to("/etc/shadow")

    with pytest.raises(ApplicationError) as caught:
        await _verify(sandbox, store, git_bundle(PYTHON_WORKSPACE, link), MODEL_FILES)
    assert caught.value.type == "WorkspaceError" and caught.value.non_retryable
    assert "symlink secrets -> '/etc/shadow' points outside" in caught.value.message


async def test_a_git_bundle_workspace(sandbox: BwrapSandbox, store: BlobStore) -> None:
    report = await _verify(
        sandbox,
        store,
        git_bundle(PYTHON_WORKSPACE),
        MODEL_FILES,
        format="git-bundle",
        dependencies=["tinydep"],
    )
    assert report.passed, report.output
    assert [(s.name, s.test_count) for s in report.suites] == [("user", 2), ("model", 1)]


async def test_a_javascript_workspace_runs_node_test(
    sandbox: BwrapSandbox, store: BlobStore
) -> None:
    files = [
        SandboxFile(path="lib/mul.js", content="exports.mul = (a, b) => a * b;\n"),
        SandboxFile(path="mul.test.js", content=JS_MODEL_TESTS),
    ]
    report = await _verify(sandbox, store, zip_of(JS_WORKSPACE), files, language="javascript")
    user, model = report.suites
    assert user.passed and user.command[:2] == ["node", "--test"], report.output
    assert _outcomes(report, "user") == {("adds", "passed")}
    assert not model.passed and not report.passed
    assert _outcomes(report, "model") == {("multiplies", "passed"), ("is wrong", "failed")}
    [wrong] = report.failed_tests
    assert "two twos are not five" in wrong.message
    passing = await _verify(sandbox, store, zip_of(JS_WORKSPACE), files[:1], language="javascript")
    assert passing.passed, passing.output
    assert [(s.name, s.passed) for s in passing.suites] == [("user", True), ("model", True)]


async def test_the_users_own_command_runs_as_given(sandbox: BwrapSandbox, store: BlobStore) -> None:
    report = await _verify(
        sandbox,
        store,
        tar_gz(JS_WORKSPACE),
        [],
        language="javascript",
        test_command=["node", "--test", "test/"],
    )
    assert report.passed, report.output
    user = report.suites[0]
    assert user.command[:2] == ["node", "--test"] and user.command[-1] == "test/"
    assert _outcomes(report, "user") == {("adds", "passed")}  # a JUnit report was added


@pytest.fixture
def url_env(db_url: str) -> Iterator[str]:
    """A per-test variable naming the test database (how deployments pass DATABASE_URL)."""
    name = f"NAESTRO_TEST_DB_{uuid.uuid4().hex[:8]}"
    os.environ[name] = db_url
    yield name
    del os.environ[name]


async def test_the_sandbox_worker_fetches_the_workspace_by_reference(
    client: Client, tmp_path: Path, store: BlobStore, url_env: str, wheel_cache: Path
) -> None:
    settings = make_settings(
        tmp_path,
        [replay_provider(write_script(tmp_path / "script.jsonl", []))],
        sandbox={"backend": "bwrap", "wheel_cache": str(wheel_cache)},
        memory={"database_url_env": url_env},
    )
    archive = tar_gz(PYTHON_WORKSPACE)
    spec = WorkspaceSpec(archive=await store.put(archive), dependencies=["tinydep"])
    request = VerifyRequest(files=MODEL_FILES, workspace=spec, limits=FAST)

    async def verify(request: VerifyRequest) -> VerificationReport:
        job = VerifyJob(request=request, sandbox_task_queue=settings.queues.sandbox)
        report: VerificationReport = await client.execute_workflow(
            VERIFY_WORKFLOW,
            job,
            id=f"verify-{uuid.uuid4().hex}",
            task_queue=settings.queues.orchestrator,
            result_type=VerificationReport,
        )
        return report

    async with running_workers(client, settings):
        report = await verify(request)
        assert report.passed, report.output
        assert [s.name for s in report.suites] == ["user", "model"]
        # A reference to bytes no one stored: the task's error, not retried.
        gone = spec.model_copy(update={"archive": ref_of(b"never stored")})
        with pytest.raises(WorkflowFailureError) as caught:
            await verify(request.model_copy(update={"workspace": gone}))
    failure = caught.value.cause
    assert isinstance(failure, ActivityError) and failure.retry_state is not None
    assert isinstance(failure.cause, ApplicationError)
    assert failure.cause.type == "WorkspaceError" and "is not in the blob store" in str(
        failure.cause
    )


async def test_docker_runs_workspaces_without_dependencies_or_node(
    docker_sandbox: DockerSandbox, store: BlobStore
) -> None:
    plain = {
        "calc/__init__.py": "def quadruple(x):\n    return 4 * x\n",
        "tests/test_calc.py": "from calc import quadruple\n\n\ndef test_quadruple():\n"
        "    assert quadruple(2) == 8\n",
        "README": "calc\n",
    }
    archive = tar_with(member("docs/readme", tarfile.SYMTYPE, "../README"), files=plain)
    report = await _verify(docker_sandbox, store, archive, MODEL_FILES)
    assert report.passed and report.backend == "docker", report.output
    assert [(s.name, s.test_count) for s in report.suites] == [("user", 1), ("model", 1)]
    needs = await _verify(docker_sandbox, store, archive, [], dependencies=["tinydep"])
    assert needs.missing_dependencies == ["tinydep"] and "Docker" in needs.summary
    with pytest.raises(ApplicationError) as caught:
        await _verify(docker_sandbox, store, zip_of(JS_WORKSPACE), [], language="javascript")
    assert caught.value.type == "SandboxError" and "node is not installed" in caught.value.message


async def test_a_code_task_with_a_workspace_runs_the_users_tests_too(
    client: Client, tmp_path: Path, store: BlobStore, url_env: str, wheel_cache: Path
) -> None:
    """TaskWorkflow end to end: the task carries its workspace by reference; the verify
    phase runs the user's tests (importing a dependency only the wheel cache has) and the
    model's, and reports both suites."""
    answer = "\n\n".join(f"```python\n# file: {f.path}\n{f.content}```" for f in MODEL_FILES)
    rules = [
        {"role": "planner", "text": "1. Add octuple. 2. Test it."},
        {"phase": "implement", "text": answer},
        {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "ok"}'},
    ]
    settings = make_settings(
        tmp_path,
        [replay_provider(write_script(tmp_path / "script.jsonl", rules))],
        sandbox={"backend": "bwrap", "wheel_cache": str(wheel_cache)},
        memory={"database_url_env": url_env},
    )
    spec = WorkspaceSpec(
        archive=await store.put(tar_gz(PYTHON_WORKSPACE)), dependencies=["tinydep"]
    )
    request = TaskRequest(
        prompt="Add calc.extra.octuple(x) = 8x, with a test.",
        kind="code",
        verify=VerifySpec(workspace=spec),
    )
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    report = result.verification
    assert report is not None and report.passed, report
    assert [s.name for s in report.suites] == ["user", "model"]

    def short(suite: str) -> set[tuple[str, str]]:
        return {(name.split(".")[-1].split("::")[-1], o) for name, o in _outcomes(report, suite)}

    assert short("user") == {("test_dependency", "passed"), ("test_quadruple", "passed")}
    assert short("model") == {("test_octuple", "passed")}
    history = await handle.fetch_history()
    assert max(e.ByteSize() for e in history.events) < 64 * 1024  # the archive went by reference
