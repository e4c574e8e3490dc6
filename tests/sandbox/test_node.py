"""JavaScript on Node's built-in runner (``framework="node"``) in real bubblewrap: results
from its JUnit reporter, its address-space allowance, and its heap cap."""

from __future__ import annotations

import pytest

from activities.sandbox import BwrapSandbox
from naestro.contracts import SandboxFile, VerifyRequest
from tests.sandbox.conftest import FAST

pytestmark = pytest.mark.timeout(60)

SOURCE = "exports.add = (a, b) => a + b;\n"
TESTS = """const { describe, test } = require('node:test');
const assert = require('node:assert');
const { add } = require('./math');

describe('add', () => {
  test('small numbers', () => assert.strictEqual(add(1, 2), 3));
  describe('edge cases', () => {
    test('negative', () => assert.strictEqual(add(-1, -1), -2));
    test('broken', () => assert.strictEqual(add(0.1, 0.2), 0.3, 'floats'));
  });
});
test.skip('later', () => {});
"""


def _request(tests: str) -> VerifyRequest:
    files = [
        SandboxFile(path="math.js", content=SOURCE),
        SandboxFile(path="math.test.js", content=tests),
    ]
    return VerifyRequest(files=files, framework="node", limits=FAST)


async def test_node_test_results_are_named_by_their_describe_path(
    bwrap_sandbox: BwrapSandbox,
) -> None:
    report = await bwrap_sandbox.run(_request(TESTS))
    assert not report.passed and report.exit_code == 1, report.output
    assert {(t.name, t.outcome) for t in report.tests} == {
        ("add > small numbers", "passed"),
        ("add > edge cases > negative", "passed"),
        ("add > edge cases > broken", "failed"),
        ("later", "skipped"),
    }
    [broken] = report.failed_tests
    assert "floats" in broken.message and broken.suite == "model"
    assert report.summary.startswith("2 passed, 1 failed, 1 skipped in ")
    assert "✖ broken" in report.output  # the spec reporter's text is the output
    assert [(s.name, s.passed, s.test_count) for s in report.suites] == [("model", False, 4)]


async def test_a_passing_node_suite_passes(bwrap_sandbox: BwrapSandbox) -> None:
    passing = TESTS.replace("0.3, 'floats'", "0.30000000000000004, 'floats'")
    report = await bwrap_sandbox.run(_request(passing))
    assert report.passed and report.exit_code == 0, report.output
    assert len(report.tests) == 4 and not report.failed_tests


async def test_node_heap_is_capped_by_the_memory_limit(bwrap_sandbox: BwrapSandbox) -> None:
    # node starts although RLIMIT_AS is far below its reservations' needs, and its heap
    # stops at memory_mb: the test fails, the run does not hang or take the host down.
    hog = (
        "const test = require('node:test');\n"
        "test('hog', () => { const keep = []; for (;;) keep.push(new Array(1e6).fill(1)); });\n"
    )
    request = _request(hog).model_copy(
        update={"limits": FAST.model_copy(update={"memory_mb": 128, "wall_seconds": 30})}
    )
    report = await bwrap_sandbox.run(request)
    assert not report.passed and not report.timed_out, report.output
