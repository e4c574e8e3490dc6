"""Each problem under each compared policy, one after another: the answer (the model called
directly, or a Naestro task), its pass@1 check in the sandbox, and a result row appended
to the results file. Rows already there are skipped, so an interrupted run resumes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from activities.models.base import cost_usd
from cli.evals import Backend, Problem, evaluate
from cli.harness.config import DIRECT, POLICY_NAMES
from cli.harness.problems import check_sample, task_prompt
from cli.harness.results import ResultRow, ResultsFile
from naestro.client import start_task
from naestro.config.settings import ProviderConfig, Settings
from naestro.contracts import Budget, TaskRequest, Usage

OnRow = Callable[[ResultRow, int, int], None]  # row, rows done this run, rows to do


@dataclass
class Harness:
    client: Client
    settings: Settings
    results: ResultsFile
    budget: Budget
    backend: Backend | None = None
    on_row: OnRow | None = None
    _http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=900))

    async def run(self, problems: list[Problem], policies: list[str]) -> None:
        """Problem by problem, every policy on each (a partial run still compares them)."""
        todo = [
            (problem, policy)
            for problem in problems
            for policy in policies
            if problem.task_id not in self.results.done(policy)
        ]
        try:
            for number, (problem, policy) in enumerate(todo, 1):
                row = await self.one(policy, problem)
                self.results.append(row)
                if self.on_row is not None:
                    self.on_row(row, number, len(todo))
        finally:
            await self._http.aclose()

    async def one(self, policy: str, problem: Problem) -> ResultRow:
        started = time.monotonic()
        if policy == DIRECT:
            answer, row = await self._direct(problem)
        else:
            answer, row = await self._task(policy, problem)
        wall = time.monotonic() - started
        if row.status == "failed":
            return row.model_copy(update={"wall_seconds": wall})
        passed, check = await self.check(problem, answer)
        return row.model_copy(update={"passed": passed, "check": check, "wall_seconds": wall})

    async def check(self, problem: Problem, answer: str) -> tuple[bool, str]:
        return await hidden_check(self.client, self.settings, problem, answer, self.backend)

    async def _task(self, policy: str, problem: Problem) -> tuple[str, ResultRow]:
        request = TaskRequest(
            prompt=task_prompt(problem),
            kind="code",
            policy=POLICY_NAMES[policy],
            budget=self.budget,
        )
        handle = await start_task(
            self.client,
            request,
            task_id=f"eval-{policy}-{uuid.uuid4().hex[:10]}",
            task_queue=self.settings.queues.orchestrator,
        )
        try:
            result = await handle.result()
        except WorkflowFailureError as err:  # the problem counts as failed; the run goes on
            return "", _failed_row(policy, problem, handle.id, err)
        except BaseException:  # interrupted: leave no task behind to resume in a later run
            await _terminate(handle)
            raise
        gpu = result.ledger.total.gpu_seconds if result.ledger else 0.0
        row = ResultRow(
            policy=policy,
            task_id=problem.task_id,
            passed=False,
            status=result.status,
            input_tokens=result.spend.input_tokens,
            output_tokens=result.spend.output_tokens,
            usd=result.spend.usd,
            gpu_seconds=gpu,
            model_calls=result.spend.model_calls,
            workflow_id=result.task_id,
        )
        return result.answer, row

    async def _direct(self, problem: Problem) -> tuple[str, ResultRow]:
        """One OpenAI-compatible request straight to the first model's engine, temperature
        0, the output capped as the Naestro policies' calls are."""
        provider = self.settings.providers[0]
        started = time.monotonic()
        reply = await self._http.post(
            f"{_base(provider)}/chat/completions",
            json={
                "model": provider.model,
                "messages": [{"role": "user", "content": task_prompt(problem)}],
                "temperature": 0.0,
                "max_tokens": self._max_output_tokens(),
            },
        )
        reply.raise_for_status()
        body = reply.json()
        latency = time.monotonic() - started
        counted = body.get("usage") or {}
        usage = Usage(
            input_tokens=int(counted.get("prompt_tokens", 0)),
            output_tokens=int(counted.get("completion_tokens", 0)),
        )
        row = ResultRow(
            policy=DIRECT,
            task_id=problem.task_id,
            passed=False,
            status="answered",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            usd=cost_usd(provider, usage),
            gpu_seconds=latency * provider.gpus,
            model_calls=1,
        )
        return str(body["choices"][0]["message"].get("content") or ""), row

    def _max_output_tokens(self) -> int:
        single = self.settings.policies.get(POLICY_NAMES["single"])
        return single.max_output_tokens if single else 1024


async def hidden_check(
    client: Client,
    settings: Settings,
    problem: Problem,
    answer: str,
    backend: Backend | None = None,
) -> tuple[bool, str]:
    """pass@1: the answer's solution against the problem's hidden test, sandboxed."""
    sample = check_sample(problem, answer)
    if sample is None:
        return False, "no solution code in the answer"
    [outcome] = await evaluate(
        client,
        orchestrator_queue=settings.queues.orchestrator,
        sandbox_queue=settings.queues.sandbox,
        problems=[problem],
        samples=[sample],
        limits=settings.sandbox.limits,
        backend=backend,
    )
    return outcome.passed, outcome.summary


def _failed_row(policy: str, problem: Problem, task_id: str, err: Exception) -> ResultRow:
    cause = err.cause if isinstance(err, WorkflowFailureError) and err.cause else err
    return ResultRow(
        policy=policy,
        task_id=problem.task_id,
        passed=False,
        status="failed",
        check=f"the task failed: {cause}"[:500],
        workflow_id=task_id,
    )


async def _terminate(handle: WorkflowHandle[Any, Any]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.shield(handle.terminate("the eval run was interrupted"))


def _base(provider: ProviderConfig) -> str:
    if not provider.endpoint:
        raise ValueError(f"provider {provider.id} has no endpoint to call directly")
    return provider.endpoint.rstrip("/")
