"""ResearchWorkflow on a real dev server and a real Postgres, with scripted replies at the
provider: continue-as-new with its findings intact and each run's history under the
bound, steering by every command at the next iteration, validators' messages, the budget,
convergence; and the pure rules behind them (naestro/research/)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError

from naestro import names, search
from naestro.client import start_research
from naestro.contracts import TaskEvent
from naestro.contracts.research import (
    Citation,
    Finding,
    ResearchBudget,
    ResearchRequest,
    SteerCommand,
    SteerRequest,
)
from naestro.research import prompts, steering
from naestro.research import state as job
from tests.replay import replayer
from tests.research.jobs import (
    GOAL,
    QUESTIONS,
    REPORT,
    add_document,
    gathered,
    job_id,
    prompts_of,
    research_settings,
    rules,
    runs,
    size,
    steer,
    wait_view,
)
from tests.support import (
    make_settings,
    recorded_requests,
    replay_provider,
    running_workers,
    write_script,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)

# ------------------------------------------------------------ the pure rules


def _state(**request: object) -> job.ResearchState:
    return job.start(ResearchRequest(goal=GOAL, questions=QUESTIONS, **request), NOW)  # type: ignore[arg-type]


def test_questions_get_ids_once_and_repeats_are_left_out() -> None:
    state = _state()
    assert [q.id for q in state.questions] == ["q1", "q2", "q3"]
    state, added = job.add_questions(
        state, ["what force raises  THE tides?", "New one?"], "planner", 2
    )
    assert [(q.id, q.source, q.asked_at) for q in added] == [("q4", "planner", 2)]
    state, outcome = steering.accept(
        state, SteerCommand(action="add_question", question="Q5?"), NOW, 3
    )
    assert outcome.message == "q5 is asked from iteration 3" and state.questions_asked == 5
    state, more = job.add_questions(state, ["Another?"], "planner", 3)  # q5 is reserved
    assert [q.id for q in more] == ["q6"]
    state = steering.apply_pending(state, 3)
    assert [q.id for q in state.questions] == ["q1", "q2", "q3", "q4", "q6", "q5"]
    assert state.steers[0].applied_at == 3 and state.pending == []


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"action": "add_question", "question": "  "}, "add_question needs a question"),
        ({"action": "add_question", "question": QUESTIONS[0].upper()}, "q1 already asks this"),
        ({"action": "drop_question"}, "drop_question needs question_id"),
        ({"action": "drop_question", "question_id": "q9"}, "no question q9 in this job"),
        ({"action": "drop_question", "question_id": "q1"}, "q1 is answered, not open"),
        ({"action": "drop_question", "question_id": "q2"}, "q2 is being answered"),
        ({"action": "redirect", "goal": " "}, "redirect needs a new goal"),
        ({"action": "redirect", "goal": GOAL}, "that is the goal already"),
        ({"action": "budget"}, "budget needs max_usd, max_tokens or max_iterations"),
        ({"action": "budget", "max_usd": -1.0}, "max_usd must not be negative"),
        ({"action": "budget", "max_tokens": 10}, "max_tokens 10 is below the 500 spent"),
        ({"action": "budget", "max_iterations": 0}, "max_iterations 0 is below the 1 done"),
        ({"action": "budget", "max_iterations": 10**6}, "budget: max_iterations:"),
        ({"action": "resume"}, "the job is not paused"),
        # An SDK client's command under the prompt rule (a question or goal becomes a prompt)
        ({"action": "add_question", "question": "tides\x00?"}, "question must not hold a NUL"),
        ({"action": "redirect", "goal": "go\x1b[2J"}, "goal must not hold control characters"),
    ],
)
def test_validator_names_what_is_wrong(command: dict[str, object], message: str) -> None:
    state = _state()
    state = job.record_findings(state, [_head("q1")], 1).model_copy(
        update={"spend": job.ResearchSpend(tokens=500, usd=0.01)}
    )
    with pytest.raises(ValueError, match=message):
        steering.check(state, SteerCommand.model_validate(command), "running", {"q2"})


def test_a_callers_command_is_refused_at_once_naming_the_field_an_accepted_one_still_loads() -> (
    None
):
    """The API's and the CLI's SteerRequest refuses what no prompt may hold; SteerCommand,
    the workflow's type (and its durable state's), still loads a command accepted before the
    rule, so no running job's state fails to load."""
    with pytest.raises(ValidationError, match="question\n  must not hold a NUL"):
        SteerRequest.model_validate({"action": "add_question", "question": "a\x00b"})
    with pytest.raises(ValidationError, match="goal\n  must not hold control characters"):
        SteerRequest.model_validate({"action": "redirect", "goal": "go\x07"})
    assert SteerRequest.model_validate({"action": "add_question", "question": "Why?\tHow?"})
    assert SteerRequest(action="pause").question == ""  # the empty ones are each action's
    kept = SteerCommand.model_validate({"action": "add_question", "question": "old\x1b"})
    assert kept.question == "old\x1b"


def test_validator_checks_against_the_queued_commands_and_the_job_status() -> None:
    state, _ = steering.accept(_state(), SteerCommand(action="pause"), NOW, 1)
    with pytest.raises(ValueError, match="paused already"):
        steering.check(state, SteerCommand(action="pause"), "running")
    steering.check(state, SteerCommand(action="resume"), "running")  # the queued pause
    state, _ = steering.accept(state, SteerCommand(action="add_question", question="Q?"), NOW, 1)
    steering.check(state, SteerCommand(action="drop_question", question_id="q4"), "running")
    for status in ("reporting", "done"):
        with pytest.raises(ValueError, match=f"the job is {status}"):
            steering.check(state, SteerCommand(action="stop"), status)  # type: ignore[arg-type]
    for _ in range(steering.MAX_PENDING - 2):
        state, _ = steering.accept(state, SteerCommand(action="stop"), NOW, 1)
    with pytest.raises(ValueError, match="commands already wait"):
        steering.check(state, SteerCommand(action="resume"), "running")


def test_commands_apply_in_order() -> None:
    state = _state(budget=ResearchBudget(max_iterations=2))
    for command in (
        SteerCommand(action="drop_question", question_id="q3"),
        SteerCommand(action="redirect", goal="  Tides in lakes.  "),
        SteerCommand(action="budget", max_iterations=5, max_usd=9.0),
        SteerCommand(action="stop", by="ana", reason="enough"),
    ):
        state, _ = steering.accept(state, command, NOW, 1)
    state = steering.apply_pending(state.model_copy(update={"progress": [0.4]}), 1)
    assert [q.status for q in state.questions] == ["open", "open", "dropped"]
    assert state.goal == "Tides in lakes." and state.progress == []
    assert (state.budget.max_iterations, state.budget.max_usd) == (5, 9.0)
    assert state.stop_requested == "stopped by ana: enough"
    assert job.limit_reason(state, NOW) == "stopped"


def test_stop_rules() -> None:
    state = _state(budget=ResearchBudget(max_iterations=2, max_hours=1))
    assert job.limit_reason(state, NOW) is None
    assert job.limit_reason(state.model_copy(update={"iteration": 2}), NOW) == "iterations"
    later = NOW.replace(hour=1)
    assert job.limit_reason(state, later) == "time"
    assert job.converged(job.record_progress(state, 0.9), 0.85)
    assert not job.converged(job.record_progress(state, 0.5), 0.85)


def test_runs_hand_over_before_the_history_bound() -> None:
    small = job.HistoryUse(100, 50_000)
    iteration = job.HistoryUse(60, 40_000)
    assert not job.time_to_continue(1, 10, small, iteration, suggested=False)
    assert job.time_to_continue(10, 10, small, iteration, suggested=False)
    assert job.time_to_continue(1, 10, small, iteration, suggested=True)
    near = job.HistoryUse(job.HISTORY_MAX_EVENTS - job.RESERVE_EVENTS - 100, 50_000)
    assert job.time_to_continue(1, 10, near, iteration, suggested=False)
    heavy = job.HistoryUse(100, job.HISTORY_MAX_BYTES - job.RESERVE_BYTES - 50_000)
    assert job.time_to_continue(1, 10, heavy, iteration, suggested=False)


def test_citations_follow_what_the_answer_cites() -> None:
    a, b = Citation(source="a.md", ref="chunk 1"), Citation(source="b.md", ref="chunk 2")
    sources = [prompts.Source(a, "A"), prompts.Source(b, "B")]
    assert prompts.cited("B says [S2], A too [S1] [S2] [S7].", sources) == [b, a]
    assert prompts.cited("No sources.", sources) == [Citation(source="model")]
    findings = [
        Finding(question_id="q1", question="?", text="x", citations=[b, a]),
        Finding(question_id="q2", question="?", text="y", citations=[a]),
    ]
    assert prompts.numbered(findings) == ([b, a], [[1, 2], [2]])
    report = prompts.assembled(GOAL, findings, "budget")
    assert "q1: ?\nx [1][2]" in report and report.endswith("[1] b.md (chunk 2)\n[2] a.md (chunk 1)")


def _head(qid: str) -> job.FindingHead:
    return job.FindingHead(id=1, question_id=qid, iteration=1, headline="h")


# ------------------------------------------------------------ the workflow


async def test_job_continues_as_new_with_its_findings_and_a_bounded_history(
    client: Client,
    tmp_path: Path,
    url_env: str,
    db_url: str,
) -> None:
    record = tmp_path / "calls.jsonl"
    settings = research_settings(tmp_path, url_env, rules(), record=record)
    questions = [*QUESTIONS, "What are neap tides?", "Do lakes have tides?"]
    request = ResearchRequest(
        goal=GOAL, questions=questions, questions_per_iteration=1, iterations_per_run=2
    )
    job_key = job_id()
    async with running_workers(client, settings) as deps:
        await add_document(deps)
        handle = await start_research(
            client, request, job_id=job_key, task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
        events = await handle.query(names.EVENTS_QUERY, 0, result_type=list[TaskEvent])
        histories = await runs(client, job_key)
    # Five iterations of one question each, two per run: three runs, two hand-overs.
    assert (result.stop_reason, result.iterations, result.runs) == ("no_questions", 5, 3)
    assert [(q.id, q.text, q.status) for q in result.questions] == [
        (f"q{i}", text, "answered") for i, text in enumerate(questions, 1)
    ]
    assert gathered(record) == ["q1", "q2", "q3", "q4", "q5"]
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT question_id FROM research_findings WHERE job_id = $1 ORDER BY id", job_key
        )
        finals = await conn.fetchval(
            "SELECT count(*) FROM research_reports WHERE job_id = $1 AND kind = 'final'", job_key
        )
    finally:
        await conn.close()
    assert [r["question_id"] for r in rows] == ["q1", "q2", "q3", "q4", "q5"]
    assert result.findings == 5 and finals == 1 and result.report_id is not None
    assert result.report.startswith(REPORT) and "Citations:\n[1] tides.md" in result.report
    assert result.citations[0].source == "tides.md" and "Moon" in result.citations[0].quote
    assert result.spend.model_calls == len(prompts_of(record, "implementer")) + 5 + 1 + 1
    # The progress log goes on across runs: the last run's numbers follow the first's.
    assert events[0].seq > 20 and [e.seq for e in events] == sorted(e.seq for e in events)
    assert len(histories) == 3
    for history in histories[:-1]:
        assert (
            history.events[-1].event_type
            == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        )
    for history in histories:
        events_count, bytes_count = size(history)
        assert events_count < job.HISTORY_MAX_EVENTS and bytes_count < job.HISTORY_MAX_BYTES


async def test_steering_takes_effect_at_the_next_iteration(
    client: Client,
    tmp_path: Path,
    url_env: str,
) -> None:
    record = tmp_path / "calls.jsonl"
    settings = research_settings(tmp_path, url_env, rules(), record=record)
    request = ResearchRequest(
        goal=GOAL,
        questions=QUESTIONS,
        questions_per_iteration=2,
        cadence_seconds=3600,  # only a new question or goal starts an iteration early
        budget=ResearchBudget(max_iterations=2),
    )
    new_goal = "Explain the tides of large lakes."
    async with running_workers(client, settings) as deps:
        await add_document(deps)
        handle = await start_research(
            client, request, job_id=job_id(), task_queue=settings.queues.orchestrator
        )
        await wait_view(handle, lambda v: v.iteration == 1 and v.status == "waiting")
        await _rejected(handle)
        paused = await steer(handle, action="pause", by="ana")
        assert paused.applies_at == 2 and "pauses before iteration 2" in paused.message
        await wait_view(handle, lambda v: v.status == "paused")
        drop = await steer(handle, action="drop_question", question_id="q3")
        add = await steer(handle, action="add_question", question="What are neap tides?")
        await steer(handle, action="redirect", goal=new_goal)
        await steer(handle, action="budget", max_iterations=4)  # past the old limit of 2
        assert (drop.applies_at, add.applies_at, add.message) == (
            2,
            2,
            "q4 is asked from iteration 2",
        )
        held = await wait_view(handle, lambda v: not v.pending)
        assert (held.status, held.iteration, held.goal) == ("paused", 1, new_goal)
        assert sorted(gathered(record)) == ["q1", "q2"]  # a new question would start one: paused
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await steer(handle, action="pause")
        assert "paused already" in str(twice.value.cause)
        await steer(handle, action="resume")
        await wait_view(handle, lambda v: v.iteration == 2 and v.status == "waiting")
        await steer(handle, action="add_question", question="Do lakes have tides?")
        third = await wait_view(handle, lambda v: v.iteration == 3 and v.status == "waiting")
        stop = await steer(handle, action="stop", by="ana", reason="enough")
        assert stop.applies_at == 4
        result = await handle.result()
    asked = gathered(record)  # an iteration gathers its questions in parallel
    assert sorted(asked[:2]) == ["q1", "q2"] and asked[2:] == ["q4", "q5"]  # q3: dropped
    implementer = prompts_of(record, "implementer")
    assert GOAL in implementer[0] and all(new_goal in p for p in implementer[2:])
    assert new_goal in prompts_of(record, "judge")[-1]
    assert third.budget.max_iterations == 4
    assert [s.applied_at for s in third.steers] == [2, 2, 2, 2, 2, 2, 3]
    assert (result.stop_reason, result.iterations) == ("stopped", 3)
    assert result.report.startswith(REPORT) and result.citations
    attrs = (await handle.describe()).typed_search_attributes
    assert (attrs.get(search.STATUS), attrs.get(search.KIND)) == ("stopped", "research")


async def _rejected(handle: object) -> None:
    """Every invalid command is refused by the validator with its reason."""
    cases = [
        ({"action": "add_question", "question": " "}, "add_question needs a question"),
        ({"action": "add_question", "question": QUESTIONS[1]}, "q2 already asks this"),
        ({"action": "drop_question", "question_id": "q9"}, "no question q9"),
        ({"action": "drop_question", "question_id": "q1"}, "q1 is answered, not open"),
        ({"action": "redirect", "goal": ""}, "redirect needs a new goal"),
        ({"action": "budget"}, "budget needs max_usd, max_tokens or max_iterations"),
        ({"action": "budget", "max_tokens": 1}, "max_tokens 1 is below the"),
        ({"action": "budget", "max_usd": -2.0}, "max_usd must not be negative"),
        ({"action": "resume"}, "the job is not paused"),
    ]
    for command, message in cases:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await steer(handle, **command)  # type: ignore[arg-type]
        assert message in str(refused.value.cause), (command, refused.value.cause)


async def test_budget_cut_stops_the_job_with_a_report_from_its_findings(
    client: Client,
    tmp_path: Path,
    url_env: str,
) -> None:
    settings = research_settings(tmp_path, url_env, rules())
    request = ResearchRequest(
        goal=GOAL, questions=QUESTIONS, questions_per_iteration=1, cadence_seconds=3600
    )
    async with running_workers(client, settings) as deps:
        await add_document(deps)
        handle = await start_research(
            client, request, job_id=job_id(), task_queue=settings.queues.orchestrator
        )
        first = await wait_view(handle, lambda v: v.iteration == 1 and v.status == "waiting")
        await steer(handle, action="budget", max_tokens=first.spend.tokens)
        await steer(handle, action="add_question", question="What are neap tides?")  # go now
        result = await handle.result()
    assert (result.stop_reason, result.iterations, result.findings) == ("budget", 1, 1)
    assert result.spend.tokens == first.spend.tokens  # nothing more could be spent
    assert "Written from the stored findings without a model" in result.report
    assert "[1] tides.md" in result.report and result.citations[0].source == "tides.md"
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search.STATUS) == "budget_exhausted"


async def test_job_converges_and_reports(client: Client, tmp_path: Path, url_env: str) -> None:
    settings = research_settings(tmp_path, url_env, rules(judge=0.9))
    request = ResearchRequest(goal=GOAL, questions=QUESTIONS[:1], digest_seconds=0)
    async with running_workers(client, settings):
        handle = await start_research(
            client, request, job_id=job_id(), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert (result.stop_reason, result.iterations, result.progress) == ("converged", 1, 0.9)
    assert result.citations == [Citation(source="model")]  # memory held nothing on it
    attrs = (await handle.describe()).typed_search_attributes
    assert (attrs.get(search.STATUS), attrs.get(search.PHASE)) == ("succeeded", "done")


async def test_digests_follow_their_clock_between_iterations(
    client: Client, tmp_path: Path, url_env: str, db_url: str
) -> None:
    settings = research_settings(tmp_path, url_env, rules())
    request = ResearchRequest(
        goal=GOAL,
        questions=QUESTIONS[:2],
        questions_per_iteration=1,
        cadence_seconds=2,  # a durable timer between the two iterations...
        digest_seconds=1,  # ...which a digest's timer interrupts
    )
    job_key = job_id()
    async with running_workers(client, settings):
        handle = await start_research(
            client, request, job_id=job_key, task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
        events = await handle.query(names.EVENTS_QUERY, 0, result_type=list[TaskEvent])
    assert (result.stop_reason, result.iterations) == ("no_questions", 2)
    conn = await asyncpg.connect(db_url)
    try:
        digests = await conn.fetch(
            "SELECT iteration, text FROM research_reports WHERE job_id = $1 AND kind = 'digest'"
            " ORDER BY id",
            job_key,
        )
    finally:
        await conn.close()
    assert digests and digests[0]["iteration"] == 1
    assert digests[0]["text"].startswith("Digest after iteration 1: 1 finding(s)")
    logged = [e.data for e in events if e.type == "digest"]
    assert [d["iteration"] for d in logged] == [r["iteration"] for r in digests]


async def test_questions_gathered_as_child_tasks(
    client: Client, tmp_path: Path, url_env: str
) -> None:
    record = tmp_path / "calls.jsonl"
    settings = research_settings(tmp_path, url_env, rules(judge=0.9), record=record)
    request = ResearchRequest(goal=GOAL, questions=QUESTIONS[:1], gather_with_tasks=True)
    async with running_workers(client, settings):
        handle = await start_research(
            client, request, job_id=job_id(), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert (result.stop_reason, result.iterations, result.findings) == ("converged", 1, 1)
    # The child task answered it (plan, implement, review), and its calls are the job's.
    child = [r.phase for r in recorded_requests(record) if r.task_id != result.job_id]
    assert "implement" in child and "review" in child
    assert result.spend.model_calls == len(recorded_requests(record))


async def test_job_without_memory_fails_at_once(client: Client, tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.jsonl", rules())
    settings = make_settings(tmp_path, [replay_provider(script)])
    async with running_workers(client, settings):
        handle = await start_research(
            client, ResearchRequest(goal=GOAL), job_id=job_id(),
            task_queue=settings.queues.orchestrator,
        )  # fmt: skip
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "research needs memory.enabled" in str(failed.value.cause)


async def test_questions_gathered_together_replay_in_the_order_they_ran(
    client: Client, tmp_path: Path, url_env: str
) -> None:
    """Three questions gathered at once, three times over: each run's history replays on
    today's code. Their calls' routing local activities run one at a time; run together,
    the SDK would resume them in completion order live and in sequence order on replay,
    and the commands after them would not match (temporalio/sdk-python#1578)."""
    settings = research_settings(tmp_path, url_env, rules())
    request = ResearchRequest(
        goal=GOAL,
        questions=QUESTIONS,
        questions_per_iteration=3,
        budget=ResearchBudget(max_iterations=1),
    )
    histories = []
    async with running_workers(client, settings):
        for _ in range(3):
            handle = await start_research(
                client, request, job_id=job_id(), task_queue=settings.queues.orchestrator
            )
            result = await handle.result()
            assert result.findings == 3
            histories.append(await handle.fetch_history())
    for history in histories:
        await replayer(client.data_converter).replay_workflow(history)
