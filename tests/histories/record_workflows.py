"""Record a history of each workflow type that is no task (`make histories`): a sandbox run
through VerifyWorkflow, a document ingest through IngestWorkflow on the memory queue (a
Postgres of its own), and a small PII recalibration through PiiCalibrationWorkflow.

One entry of RUNS per file; every run goes to the orchestrator queue of one set of workers
(memory on, so each type's activities have a worker). Re-record only on purpose, as with
record.py.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from temporalio.client import Client  # noqa: E402

from naestro import db, names  # noqa: E402
from naestro.config.settings import Settings  # noqa: E402
from naestro.contracts import (  # noqa: E402
    PiiCalibrationReport,
    PiiCalibrationRequest,
    VerificationReport,
    VerifyJob,
    VerifyRequest,
)
from naestro.contracts.memory import IngestReport, IngestRequest  # noqa: E402
from naestro.parsing import extract_files  # noqa: E402
from tests.histories.recording import (  # noqa: E402
    PREFIX,
    memory_on,
    postgres,
    recorder_main,
    recording_env,
    save,
)
from tests.support import make_settings, replay_provider, running_workers, write_script  # noqa: E402
from tests.workflow.scripts import FIXED, TESTS  # noqa: E402

GUIDE = "# Style\n\nName the tests test_adds_* and keep them in test_solution.py.\n"


@dataclass(frozen=True)
class Run:
    """One recorded run: its file (``PREFIX`` + name, also its workflow id), the workflow
    type, its input (from the settings and a scratch directory), and what its result must
    show (``check`` returns what is wrong, or None)."""

    name: str
    workflow: str
    request: Callable[[Settings, Path], BaseModel]
    result_type: type[BaseModel]
    check: Callable[[Any], str | None]

    @property
    def stem(self) -> str:
        return PREFIX + self.name


def _verify_job(settings: Settings, _: Path) -> VerifyJob:
    files = extract_files(FIXED + "\n\n" + TESTS)
    return VerifyJob(request=VerifyRequest(files=files), sandbox_task_queue=settings.queues.sandbox)


def _ingest(settings: Settings, tmp: Path) -> IngestRequest:
    guide = tmp / "style.md"
    guide.write_text(GUIDE, encoding="utf-8")
    return IngestRequest(paths=[str(guide)], task_queue=settings.queues.memory)


def _calibration(_: Settings, tmp: Path) -> PiiCalibrationRequest:
    return PiiCalibrationRequest(samples=200, output=str(tmp / "calibration.yaml"))


def _passed(report: VerificationReport) -> str | None:
    return None if report.passed else f"its tests did not pass: {report.summary}"


def _stored(report: IngestReport) -> str | None:
    return None if report.documents == 1 and report.chunks > 0 else f"stored {report}"


def _calibrated(report: PiiCalibrationReport) -> str | None:
    return None if report.written_to else f"wrote no calibration: {report}"


RUNS = [
    Run("verify", names.VERIFY_WORKFLOW, _verify_job, VerificationReport, _passed),
    Run("ingest", names.INGEST_WORKFLOW, _ingest, IngestReport, _stored),
    Run(
        "pii_calibration",
        names.PII_CALIBRATION_WORKFLOW,
        _calibration,
        PiiCalibrationReport,
        _calibrated,
    ),
]


async def record_run(client: Client, settings: Settings, run: Run, tmp: Path, force: bool) -> None:
    started = time.monotonic()
    handle = await client.start_workflow(
        run.workflow,
        run.request(settings, tmp),
        id=run.stem,
        task_queue=settings.queues.orchestrator,
        result_type=run.result_type,
    )
    problem = run.check(await handle.result())
    if problem is not None:
        raise SystemExit(f"{run.stem}: {problem}: the run no longer takes the path it covers")
    sys.stdout.write(f"ran {run.stem} in {time.monotonic() - started:.1f}s\n")
    save(run.stem, await handle.fetch_history(), force=force)


async def main(force: bool) -> None:
    with postgres() as url, tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        script = write_script(tmp / "script.jsonl", [{"text": "unused"}])
        settings = make_settings(tmp, [replay_provider(script)], memory=memory_on(url))
        await db.migrate(url, settings.memory)
        async with recording_env() as env, running_workers(env.client, settings):
            for run in RUNS:
                await record_run(env.client, settings, run, tmp, force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", (run.stem for run in RUNS), main)
