"""Traces end to end: a task submitted through the API is one connected trace in a real
Jaeger (OTLP over loopback): the API request, the workflow, its activities, its consensus
child and every model call, with GenAI attributes and no prompt text; replaying the task's
history exports no span."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.app import create_app
from naestro.telemetry import tracing
from tests.api.conftest import UNLIMITED, Gw, serve
from tests.api.helpers import finished
from tests.observability import SWITCH, Jaeger, jaeger
from tests.support import make_settings, replay_provider, running_workers, write_script
from workers.orchestrator import FAILURE_TYPES, WORKFLOWS
from workers.runner import workflow_runner

SERVICE = "naestro-test"
SECRET = "PROMPT-MARKER-7d1f"  # in the prompt: must appear in no span
RULES = [
    {"role": "planner", "text": "1. Answer."},
    {"role": "proposer", "text": "The answer is 42."},
    {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "fine"}'},
    {"text": "The answer is 42."},
]
ROLES = ("planner", "implementer", "refiner", "judge", "proposer", "critic", "synthesizer")
# One scripted model sampled three times: the implement phase runs as a consensus child.
CONSENSUS = {"consensus": {"self_consensus": True, "proposers": 3}}


def _spans(trace: dict[str, Any]) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = trace["spans"]
    return spans


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


async def _traced_client(env: WorkflowEnvironment, converter: DataConverter) -> Client:
    config = env.client.service_client.config
    return await Client.connect(
        config.target_host,
        namespace=env.client.namespace,
        data_converter=converter,
        plugins=tracing.client_plugins(),
    )


def _dangling(trace: dict[str, Any]) -> list[tuple[str, str]]:
    """Spans whose parent is not in the trace: (span name, missing parent id)."""
    ids = {s["spanID"] for s in _spans(trace)}
    return [
        (s["operationName"], ref["spanID"])
        for s in _spans(trace)
        for ref in s.get("references", [])
        if ref["spanID"] not in ids
    ]


async def _task_trace(jg: Jaeger, task_id: str) -> dict[str, Any]:
    """The trace holding the API request and the task, once every span's parent arrived."""
    found: dict[str, Any] | None = None
    for _ in range(150):
        for trace in await jg.traces(SERVICE):
            names = {s["operationName"] for s in _spans(trace)}
            ids = {_tags(s).get("temporalWorkflowID") for s in _spans(trace)}
            if "POST /v1/tasks" in names and task_id in ids:
                found = trace
                if not _dangling(trace):
                    return trace
        await asyncio.sleep(0.2)
    assert found is not None, f"no trace with the API request and {task_id} in Jaeger"
    every = sorted({s["operationName"] for s in _spans(found)})
    raise AssertionError(f"spans with no parent in the trace: {_dangling(found)}; {every}")


async def test_a_task_is_one_trace_in_jaeger_and_a_replay_adds_no_span(
    env: WorkflowEnvironment, converter: DataConverter, database_url: str, tmp_path: Path
) -> None:
    memory = InMemorySpanExporter()
    with jaeger(tmp_path) as jg:
        exporter = OTLPSpanExporter(endpoint=jg.otlp)
        with SWITCH.routing([SimpleSpanProcessor(memory), BatchSpanProcessor(exporter)]):
            assert tracing.install_tracing(SERVICE, SWITCH)
            client = await _traced_client(env, converter)
            script = write_script(tmp_path / "script.jsonl", RULES)
            policy = {"roles": dict.fromkeys(ROLES, ["scripted"]), **CONSENSUS}
            settings = make_settings(
                tmp_path, [replay_provider(script)], policy=policy, api=UNLIMITED
            )
            async with running_workers(client, settings):
                app = create_app(settings, client=client, database_url=database_url)
                async with serve(app) as url:
                    gw = Gw(url, settings, database_url)
                    async with gw.http(await gw.key("trace-tenant")) as http:
                        started = await http.post("/v1/tasks", json={"prompt": f"{SECRET} 6x7?"})
                        task_id = started.json()["task_id"]
                        view = await finished(http, task_id)
            assert view["state"] == "completed", view
            assert view["result"]["status"] == "succeeded", view
            tracing.flush()
            trace = await _task_trace(jg, task_id)

            spans = _spans(trace)
            names = [s["operationName"] for s in spans]
            by_id = {s["spanID"]: s for s in spans}
            roots = [s for s in spans if not s.get("references")]
            assert [r["operationName"] for r in roots] == ["POST /v1/tasks"], names
            for span in spans:  # connected: every parent is in this trace
                for ref in span.get("references", []):
                    assert ref["spanID"] in by_id, (span["operationName"], ref)
            for wanted in (
                "StartWorkflow:naestro.task",
                "RunWorkflow:naestro.task",
                "StartChildWorkflow:naestro.consensus",
                "RunWorkflow:naestro.consensus",
                "RunActivity:naestro.model.complete",
            ):
                assert any(n.startswith(wanted) for n in names), (wanted, sorted(set(names)))
            chats = [s for s in spans if s["operationName"] == "chat scripted-model"]
            assert len(chats) >= 4  # plan, three proposals, (judge)
            tags = _tags(chats[0])
            assert tags["gen_ai.request.model"] == "scripted-model"
            assert tags["gen_ai.operation.name"] == "chat"
            assert tags["gen_ai.usage.input_tokens"] > 0 and "gen_ai.usage.output_tokens" in tags
            assert {"naestro.role", "naestro.phase", "naestro.provider", "naestro.cost_usd"} <= set(
                tags
            )
            assert tags["naestro.tenant"] == "trace-tenant"
            assert SECRET not in json.dumps(trace)  # no prompt text anywhere in the trace

            history = await client.get_workflow_handle(task_id).fetch_history()
            before = len(memory.get_finished_spans())
            replayer = Replayer(
                workflows=WORKFLOWS,
                workflow_runner=workflow_runner(),
                data_converter=converter,
                workflow_failure_exception_types=FAILURE_TYPES,
                plugins=tracing.client_plugins(),
            )
            await replayer.replay_workflow(history)
            assert len(memory.get_finished_spans()) == before
