"""The one model-call path (workflows/steps/calls.py) under a default-policy TaskWorkflow,
on the real dev server with scripted providers or a loopback wire server: fallback from a
dead provider (and its breaker), the budget kept exactly (tokens, USD, GPU-seconds) from
recorded usage, GPU-seconds booked per local call, the judge's verdict repaired once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest, TaskResult
from naestro.structured import REPAIR_MARKER
from tests.providers.payloads import openai_error
from tests.providers.wire import WireServer
from tests.support import (
    make_settings,
    recorded_requests,
    recorded_usages,
    replay_provider,
    running_workers,
    write_script,
)
from tests.workflow.scripts import verdict

PROMPT = "Explain how a durable workflow engine recovers a task after its worker crashes."
# Replies as long as a real model's: a plan, a ~900-token draft, a ~3,000-token revision
# (more than the policy's 2,048-token output cap: the engine cuts it, as a real one does).
PLAN = "\n".join(
    f"{i}. {step}"
    for i, step in enumerate(
        [
            "Describe the event history the server keeps for every workflow execution.",
            "Explain how a new worker replays that history to rebuild the workflow's state.",
            "Show why workflow code must be deterministic for replay to reach the same state.",
            "Cover activities: retried from their last attempt, results recorded once.",
            "Mention timers, signals and child workflows, which survive in the history too.",
            "Close with what the application must still do: idempotent side effects.",
        ],
        1,
    )
)
PARAGRAPH = (
    "The server records every command the workflow issues and every result it receives as "
    "an event in the execution's history. When a worker dies, the task is not lost: another "
    "worker picks up the next workflow task, fetches the history and replays the code from "
    "the start, matching each command against the recorded events instead of running it "
    "again, until it reaches the point where the previous worker stopped. "
)
DRAFT = "".join(f"Part {i}. {PARAGRAPH}" for i in range(1, 9))
REVISION = "".join(f"Section {i}. {PARAGRAPH}" for i in range(1, 28))
JUDGE_REVISE = json.dumps(
    {
        "verdict": "revise",
        "score": 0.3,
        "rationale": "The draft repeats itself and never explains determinism or activities.",
    }
)
ESSAY_RULES: list[dict[str, Any]] = [
    {"role": "planner", "text": PLAN},
    {"phase": "implement", "text": DRAFT},
    {"role": "judge", "text": JUDGE_REVISE},
    {"phase": "refine", "text": REVISION},
]


def _one_provider(tmp_path: Path, rules: list[dict[str, Any]], **provider: Any) -> Settings:
    script = write_script(tmp_path / "engine.jsonl", rules)
    return make_settings(tmp_path, [replay_provider(script, "engine", **provider)])


async def _run(client: Client, settings: Settings, request: TaskRequest) -> TaskResult:
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        return await handle.result()


# ---------------------------------------------------------------- fallback and breaker


async def test_dead_first_provider_falls_back_and_opens_its_breaker(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script("/v1/chat/completions", openai_error(503, "engine overloaded"))
    wire.serve_models("m")  # up and listing its model, yet every call fails
    dead = {"id": "dead", "engine": "vllm", "endpoint": f"{wire.url}/v1", "model": "m"}
    script = write_script(
        tmp_path / "backup.jsonl",
        [
            {"role": "planner", "text": PLAN},
            {"role": "judge", "text": verdict(0.9)},
            {"text": "ok"},
        ],
    )
    settings = make_settings(
        tmp_path,
        [dead, replay_provider(script, "backup")],  # every role: dead first, then backup
        policy={"routing": {"call_attempts": 1}},
        governor={"breaker_failures": 2},
    )
    async with running_workers(client, settings) as deps:
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
        assert deps.governor is not None
        assert deps.governor.breaker("dead").state == "open"
        assert deps.governor.health("dead").failures == 2

    assert result.status == "succeeded", result.reason
    assert [(c.role, c.provider) for c in result.trace] == [
        ("planner", "backup"),
        ("implementer", "backup"),
        ("judge", "backup"),
    ]
    reasons = [c.route_reason for c in result.trace]
    assert reasons[0] == "planner: dead: failed on this call"
    assert reasons[1] == "implementer: dead: failed on this call"
    # Two failures opened the breaker: the judge's call went around the dead provider.
    assert reasons[2] == "judge: dead: circuit open"
    assert len(wire.requests) == 2  # one attempt each (call_attempts: 1), none for the judge


# ---------------------------------------------------------------- the budget, exactly


PRICED = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}


@pytest.mark.parametrize(
    ("budget", "price", "ran_out", "phases"),
    [
        # The revision is cut to the tokens left; the second review no longer fits.
        (Budget(max_tokens=7400), {}, "token budget", ["plan", "implement", "review", "refine"]),
        # The draft is cut to what the dollars left buy after its prompt; no review fits.
        (Budget(max_usd=0.012), PRICED, "USD budget", ["plan", "implement"]),
    ],
    ids=["tokens", "usd"],
)
async def test_budget_is_never_overspent(
    client: Client,
    tmp_path: Path,
    budget: Budget,
    price: dict[str, float],
    ran_out: str,
    phases: list[str],
) -> None:
    settings = _one_provider(tmp_path, ESSAY_RULES, price=price)
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt=PROMPT, budget=budget),
            task_queue=settings.queues.orchestrator,
        )
        result = await handle.result()

    assert result.status == "budget_exhausted"
    assert result.reason.startswith(ran_out), result.reason
    assert [c.phase for c in result.trace] == phases
    last = result.trace[-1]
    full = len(REVISION if last.phase == "refine" else DRAFT) // 4
    assert last.output_tokens < min(full, 2048)  # the engine cut the reply at the budget's cap
    assert result.answer and DRAFT.startswith(result.answer)  # the best answer so far is kept
    # Exact: the spend is what the provider reported, call by call, and within the budget.
    usages = await recorded_usages(client, await handle.fetch_history())
    assert len(usages) == len(result.trace) == result.spend.model_calls
    assert result.spend.input_tokens == sum(u["input_tokens"] for u in usages)
    assert result.spend.output_tokens == sum(u["output_tokens"] for u in usages)
    assert result.spend.tokens <= budget.max_tokens
    assert result.spend.usd <= budget.max_usd
    assert result.spend.usd == pytest.approx(sum(c.cost_usd for c in result.trace))
    assert result.ledger is not None and result.ledger.total.usd == pytest.approx(result.spend.usd)


# ---------------------------------------------------------------- GPU-seconds

GPU = {"gpus": 2, "simulated_latency_ms": 400}


async def test_local_calls_book_gpu_seconds(client: Client, tmp_path: Path) -> None:
    rules = [{"role": "judge", "text": verdict(0.9)}, {"text": "an answer"}]
    result = await _run(client, _one_provider(tmp_path, rules, **GPU), TaskRequest(prompt=PROMPT))

    assert result.status == "succeeded", result.reason
    assert [c.phase for c in result.trace] == ["plan", "implement", "review"]
    for call in result.trace:  # latency x 2 GPUs, every call
        assert call.gpu_seconds == pytest.approx(call.latency_ms / 1000 * 2, abs=1e-5)
        assert call.gpu_seconds >= 0.8
    assert result.ledger is not None
    assert result.ledger.total.gpu_seconds == pytest.approx(
        sum(c.gpu_seconds for c in result.trace)
    )
    assert result.ledger.phases["implement"].gpu_seconds == result.trace[1].gpu_seconds


async def test_gpu_second_budget_stops_the_task_within_it(client: Client, tmp_path: Path) -> None:
    # Each call holds 2 GPUs for ~0.4 s (~0.8 GPU-s); a call needs 1 s of both GPUs left
    # (2 GPU-s) to start, so with 3.4 GPU-s the third call (the review) cannot.
    settings = _one_provider(tmp_path, ESSAY_RULES, **GPU)
    request = TaskRequest(prompt=PROMPT, budget=Budget(max_gpu_seconds=3.4))
    result = await _run(client, settings, request)

    assert result.status == "budget_exhausted"
    assert result.reason.startswith("GPU-seconds"), result.reason
    assert [c.phase for c in result.trace] == ["plan", "implement"]
    assert result.answer == DRAFT
    assert result.ledger is not None
    assert 1.6 <= result.ledger.total.gpu_seconds <= 3.4


# ---------------------------------------------------------------- the judge's repair


def _judge_settings(tmp_path: Path, judge: list[dict[str, Any]]) -> tuple[Settings, Path]:
    record = tmp_path / "sent.jsonl"
    rules = [*judge, {"role": "planner", "text": PLAN}, {"text": "A durable answer."}]
    return _one_provider(tmp_path, rules, record=str(record)), record


async def test_malformed_verdict_is_repaired_once(client: Client, tmp_path: Path) -> None:
    judge = [
        {"role": "judge", "contains": REPAIR_MARKER, "text": verdict(0.9)},
        {"role": "judge", "text": "Looks correct to me, I would accept it."},
    ]
    settings, record = _judge_settings(tmp_path, judge)
    result = await _run(client, settings, TaskRequest(prompt=PROMPT))

    assert result.status == "succeeded", result.reason
    assert result.verdict is not None
    assert (result.verdict.verdict, result.verdict.score) == ("accept", 0.9)
    assert [c.role for c in result.trace].count("judge") == 2
    asked = [r for r in recorded_requests(record) if r.role == "judge"]
    assert len(asked) == 2
    assert all(r.schema_name == "JudgeVerdict" and r.response_schema for r in asked)
    assert REPAIR_MARKER not in asked[0].messages[-1].content
    repair = asked[1].messages
    assert repair[-2].role == "assistant"
    assert repair[-2].content == "Looks correct to me, I would accept it."
    assert f"{REPAIR_MARKER} JudgeVerdict" in repair[-1].content


async def test_malformed_repair_fails_the_task_clearly(client: Client, tmp_path: Path) -> None:
    settings, record = _judge_settings(tmp_path, [{"role": "judge", "text": "Accept."}])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "StructuredOutputError"
    assert cause.non_retryable
    assert (
        "judge via engine: reply did not match the required schema JudgeVerdict "
        "after one repair attempt: the reply holds no JSON object"
    ) in cause.message
    assert len([r for r in recorded_requests(record) if r.role == "judge"]) == 2
