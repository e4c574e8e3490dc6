"""`naestro pii scan|calibrate` as real subprocesses, and the calibration schedule on the
test dev server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client

from naestro.contracts import PiiCalibrationReport, PiiCalibrationRequest
from naestro.errors import ConfigError
from naestro.pii.schedule import ensure_schedule
from tests.support import make_settings, running_workers
from workflows.calibration import WORKFLOW_NAME

ROOT = Path(__file__).resolve().parents[2]
TEXT = "Mail jane.doe@example.com or call (415) 555-2671. SSN 219-09-9999.\n"


def naestro(args: list[str], config: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "--config", str(config), *args],
        cwd=ROOT,
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "temporal.yaml"
    path.write_text(yaml.safe_dump({"pii": {"calibration_file": str(tmp_path / "cal.yaml")}}))
    return path


def test_scan_prints_json_lines(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "in.txt"
    file.write_text(TEXT)
    for args, stdin in (([str(file)], ""), ([], TEXT)):  # a file, and stdin by default
        done = naestro(["pii", "scan", *args], config, stdin)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(d["entity_type"], TEXT[d["start"] : d["end"]]) for d in lines] == [
            ("EMAIL", "jane.doe@example.com"),
            ("PHONE", "(415) 555-2671"),
            ("US_SSN", "219-09-9999"),
        ]
        assert set(lines[0]) == {"entity_type", "start", "end", "score", "detector"}


def test_scan_redact_and_bad_input(config: Path, tmp_path: Path) -> None:
    done = naestro(["pii", "scan", "--redact", "-"], config, TEXT)
    assert done.stdout == "Mail <EMAIL_1> or call <PHONE_1>. SSN <US_SSN_1>.\n"
    missing = naestro(["pii", "scan", str(tmp_path / "nope.txt")], config)
    assert missing.returncode == 2 and "nope.txt" in missing.stderr


def test_calibrate_writes_thresholds_and_scores(config: Path, tmp_path: Path) -> None:
    done = naestro(["pii", "calibrate", "--samples", "300"], config)
    assert done.returncode == 0, done.stderr
    assert "micro F1" in done.stdout and "EMAIL" in done.stdout
    report = PiiCalibrationReport.model_validate(
        yaml.safe_load((tmp_path / "cal.yaml").read_text())
    )
    assert report.split == {"train": 120, "validate": 105, "test": 75}
    assert "email.regex" in report.thresholds
    assert all(0 <= e.precision <= 1 and 0 <= e.f1 <= 1 for e in report.test)
    # The scan applies the written thresholds: raise one and its findings disappear.
    report = report.model_copy(update={"thresholds": {"email.regex": 0.99}})
    (tmp_path / "cal.yaml").write_text(yaml.safe_dump(report.model_dump(mode="json")))
    assert "EMAIL" not in naestro(["pii", "scan", "-"], config, TEXT).stdout


async def test_schedule_is_created_then_updated(client: Client, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [])
    sid = f"pii-cal-{uuid.uuid4().hex[:8]}"
    await ensure_schedule(client, settings, "0 3 * * 0", schedule_id=sid)
    await ensure_schedule(client, settings, "30 4 * * *", schedule_id=sid)  # idempotent update
    handle = client.get_schedule_handle(sid)
    desc = await handle.describe()
    (calendar,) = desc.schedule.spec.calendars  # the server stores cron as a calendar
    assert [r.start for r in calendar.hour] == [4] and [r.start for r in calendar.minute] == [30]
    assert desc.schedule.action.workflow == WORKFLOW_NAME  # type: ignore[attr-defined]
    await handle.delete()
    with pytest.raises(ConfigError, match="refused"):
        await ensure_schedule(client, settings, "not a cron", schedule_id=sid)


async def test_calibration_workflow_writes_the_file(client: Client, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [])
    out = tmp_path / "scheduled.yaml"
    async with running_workers(client, settings):
        report: PiiCalibrationReport = await client.execute_workflow(
            WORKFLOW_NAME,
            PiiCalibrationRequest(samples=100, output=str(out)),
            id=f"cal-{uuid.uuid4().hex[:8]}",
            task_queue=settings.queues.orchestrator,
            result_type=PiiCalibrationReport,
        )
    assert report.written_to == str(out) and out.exists()
    assert sum(report.split.values()) == 100
