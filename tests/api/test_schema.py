"""Schemathesis against the live OpenAPI spec: no 5xx, every response matches its schema.

Runs the `schemathesis` CLI against the real gateway (real Temporal, Postgres, scripted
workers): the schema's examples, coverage (boundary and invalid values), fuzzing, and
stateful sequences that follow the spec's links (declared and inferred: a task started,
then read, cancelled, approved). Deterministic and bounded (EXAMPLES per operation: about
80 s on two cores). The cases per operation and phase, and the server errors, are written
to the test's tmp dir (`cases.txt`, beside schemathesis' own report) and printed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.api.conftest import Gw

ST = str(Path(sys.executable).with_name("schemathesis"))
EXAMPLES = 30
EVENTS = "/v1/tasks/{task_id}/events"
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def tally(ndjson: Path) -> tuple[dict[str, Counter[str]], list[str]]:
    """Cases per operation and phase, and the requests answered with a 5xx."""
    cases: dict[str, Counter[str]] = defaultdict(Counter)
    server_errors: list[str] = []
    for line in ndjson.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event["recorder"]
        for case in recorder.get("cases", {}).values():
            value = case["value"]
            cases[f"{value['method']} {value['path']}"][event["phase"]] += 1
        for exchange in recorder.get("interactions", {}).values():
            response = exchange.get("response") or {}
            if response.get("status_code", 0) >= 500:
                request = exchange["request"]
                server_errors.append(f"{request['method']} {request['uri']}")
    return cases, server_errors


def table(cases: dict[str, Counter[str]], operations: set[str], server_errors: list[str]) -> str:
    """One row per operation of the spec; the coverage phase's probes of methods the spec
    does not have (405 expected) summed in the last."""
    rows = [f"{'operation':<45} " + " ".join(f"{p:>9}" for p in PHASES) + "     total"]
    for op in sorted(operations):
        phases = " ".join(f"{cases[op][p]:>9}" for p in PHASES)
        rows.append(f"{op:<45} {phases} {sum(cases[op].values()):>9}")
    probes = sum(sum(c.values()) for op, c in cases.items() if op not in operations)
    rows.append(f"{'(methods not in the spec)':<45} {probes:>49}")
    total = sum(sum(c.values()) for c in cases.values())
    rows.append(f"{len(operations)} operations, {total} cases, {len(server_errors)} server errors")
    return "\n".join(rows + server_errors[:20])


async def spec_operations(gw: Gw) -> set[str]:
    async with gw.http() as http:
        spec = (await http.get("/openapi.json")).json()
    methods = {"get", "put", "post", "delete", "patch"}
    paths: dict[str, dict[str, object]] = spec["paths"]
    return {f"{m.upper()} {path}" for path, ops in paths.items() for m in ops if m in methods}


@pytest.mark.timeout(300)  # about 80 s alone; the bound leaves room on a busy machine
async def test_openapi_spec_holds(gw: Gw, tmp_path: Path) -> None:
    key = await gw.key("fuzz", ("admin",))
    proc = await asyncio.create_subprocess_exec(
        ST,
        "run",
        f"{gw.url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        ",".join(PHASES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {key}",
        "--exclude-path",
        EVENTS,  # a stream: covered by test_tasks
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(tmp_path / "schemathesis.ndjson"),
        "--suppress-health-check",
        "all",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(report)
    cases, server_errors = tally(tmp_path / "schemathesis.ndjson")
    operations = await spec_operations(gw) - {f"GET {EVENTS}"}
    summary = table(cases, operations, server_errors)
    (tmp_path / "cases.txt").write_text(summary + "\n")
    print(summary)
    assert proc.returncode == 0, report[-4000:]
    assert server_errors == [], summary
    assert len(operations) >= 20 and all(sum(cases[op].values()) >= 5 for op in operations), summary
