"""OpenAI-compatible endpoints: the model name selects an orchestration.

`naestro-task` runs TaskWorkflow under the default policy, `naestro-task:<policy>` under a
named one, `naestro-consensus` under the policy whose phases deliberate (the one named
`consensus`, else the first with a `consensus:` section). The official `openai` client
works unchanged (base_url=<api>/v1, api_key=an nk_ key or a JWT). A stream sends every
model call's tokens live as `reasoning_content` while the workflow runs, then the answer as
`content` chunks, a last chunk with the usage and `data: [DONE]`.

Verification (docs/verification.md) is asked for by parameters, not by a model name (an
expected answer or a schema is data a name cannot carry): the standard ``response_format``
(``json_schema``: the answer must match the schema, which the prompt also shows the model;
``json_object``: any JSON object), and ``naestro`` (the openai client's
``extra_body={"naestro": {"verify": {...}, "kind": "math"}}``) with the fields of
``POST /v1/tasks``' ``verify``. The response's ``naestro`` object reports the checks, the
verification summary and the confidence (``naestro_fields``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from temporalio.client import WorkflowFailureError

from api import service
from api.auth import Principal
from api.deps import GatewayDep, Reader, Writer
from api.models import ERRORS, NOT_FOUND, Message, TaskCreate, VerifyCreate
from api.service import ApiError, Gateway
from api.validation import JsonRoute
from naestro.contracts import TaskKind, TaskResult
from naestro.contracts.text import prompt_problem
from naestro.watch import Cursor, follow_task

router = APIRouter(route_class=JsonRoute, prefix="/v1", tags=["openai"], responses=ERRORS)
BASE_MODEL = "naestro-task"
CONSENSUS_MODEL = "naestro-consensus"
# The finished answer goes out in pieces of this size (the work before it streams live).
CHUNK_CHARS = 64


class InMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(
                str(p.get("text", "")) for p in self.content if p.get("type") == "text"
            )
        return self.content or ""


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="allow")  # strict, description: accepted, not used
    name: str = "answer"
    schema_: dict[str, Any] = Field(alias="schema")


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: ``json_schema`` and ``json_object`` are checked."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def schema_(self) -> dict[str, Any] | None:
        if self.type == "json_object":
            return {"type": "object"}
        if self.type == "json_schema":
            if self.json_schema is None:
                raise ApiError(422, "response_format: type json_schema needs its json_schema")
            return self.json_schema.schema_
        return None


class NaestroOptions(BaseModel):
    """Naestro's own parameters (``extra_body={"naestro": {...}}`` in the openai client)."""

    model_config = ConfigDict(extra="forbid")
    verify: VerifyCreate | None = None
    kind: TaskKind | None = Field(
        default=None, description="default: math with an expected answer, else general"
    )


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, ...: accepted, not used
    model: str = Field(min_length=1)
    messages: list[InMessage] = Field(min_length=1)
    stream: bool = False
    response_format: ResponseFormat | None = None
    naestro: NaestroOptions | None = None

    @field_validator("messages")
    @classmethod
    def _hold_a_prompt(cls, messages: list[InMessage]) -> list[InMessage]:
        """Their text is the task's prompt: prompt_problem's rule (no text: no task)."""
        if problem := prompt_problem("\n".join(m.text() for m in messages)):
            raise PydanticCustomError("prompt_text", f"their text {problem}")
        return messages


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "naestro"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _consensus_policy(gw: Gateway) -> str | None:
    deliberating = [n for n, p in sorted(gw.settings.policies.items()) if p.consensus]
    return "consensus" if "consensus" in deliberating else next(iter(deliberating), None)


def model_ids(gw: Gateway) -> list[str]:
    consensus = [CONSENSUS_MODEL] if _consensus_policy(gw) else []
    return [BASE_MODEL, *consensus, *(f"{BASE_MODEL}:{p}" for p in sorted(gw.settings.policies))]


def _policy(gw: Gateway, model: str) -> str:
    if model not in model_ids(gw):
        raise ApiError(404, f"model: unknown model {model!r} (known: {', '.join(model_ids(gw))})")
    if model == CONSENSUS_MODEL:
        return _consensus_policy(gw) or "auto"
    return model.partition(":")[2] or "auto"


def _prompt(messages: list[InMessage]) -> str:
    if len(messages) == 1:
        return messages[0].text()
    return "\n\n".join(f"{m.role}: {m.text()}" for m in messages if m.text())


def _verify(body: ChatRequest) -> VerifyCreate | None:
    """The checks asked for: ``naestro.verify``, with ``response_format``'s schema."""
    options = body.naestro.verify if body.naestro else None
    schema = body.response_format.schema_() if body.response_format else None
    if schema is None:
        return options
    return (options or VerifyCreate()).model_copy(update={"json_schema": schema})


def _task(gw: Gateway, body: ChatRequest) -> TaskCreate:
    verify = _verify(body)
    prompt = _prompt(body.messages)
    if body.response_format is not None and verify is not None and verify.json_schema:
        # As OpenAI does: the model is told the shape it must answer in
        shown = json.dumps(verify.json_schema, indent=1)
        prompt += f"\n\nReply with JSON only, valid against this JSON Schema:\n{shown}"
    kind = body.naestro.kind if body.naestro else None
    if kind is None:
        kind = "math" if verify is not None and verify.expected_answer else "general"
    return TaskCreate(prompt=prompt, policy=_policy(gw, body.model), kind=kind, verify=verify)


def naestro_fields(result: TaskResult) -> dict[str, Any]:
    """The ``naestro`` object of a response (and of a stream's last chunk): the task, its
    status, confidence, verification summary and each deterministic check."""
    report = result.verification
    return {
        "task_id": result.task_id,
        "status": result.status,
        "reason": result.reason,
        "confidence": result.confidence,
        "verification": None
        if report is None
        else {"passed": report.passed, "backend": report.backend, "summary": report.summary},
        "checks": [c.model_dump(mode="json") for c in result.checks],
    }


def _completion(model: str, result: TaskResult) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{result.task_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": result.spend.input_tokens,
            "completion_tokens": result.spend.output_tokens,
            "total_tokens": result.spend.tokens,
        },
        "naestro": naestro_fields(result),
    }


async def _run(gw: Gateway, who: Principal, body: ChatRequest) -> tuple[str, TaskResult | None]:
    view = await service.submit(gw, who, _task(gw, body), None, use_cache=True)
    return view.task_id, view.result


async def _finish(gw: Gateway, task_id: str) -> TaskResult:
    try:
        result = await gw.handle(task_id).result()
    except WorkflowFailureError as exc:
        raise ApiError(502, f"task {task_id} failed: {exc.cause or exc}") from None
    await gw.cache.settle(result)
    return result


def _chunk(
    cid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


async def _stream(
    gw: Gateway, task_id: str, model: str, cached: TaskResult | None
) -> AsyncIterator[str]:
    """The work as it happens, then the answer: every model call's tokens go out live as
    ``reasoning_content`` (each call headed by its phase, role and provider), and the
    answer, which is only final once verified and reviewed, as ``content``; the last chunk
    carries the finish reason, the usage and the ``naestro`` report."""
    cid = f"chatcmpl-{task_id}"
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    if cached is None:
        call = ""
        async for update in follow_task(gw.client, task_id, Cursor()):
            token = update.token
            if update.event is not None:  # a comment: keeps the connection alive
                yield f": {update.event.type} {update.event.data.get('phase', '')}\n\n"
            if token is None or not token.text:
                continue
            head = ""
            if token.call != call:
                call = token.call
                head = f"\n\n[{token.phase}: {token.role} via {token.provider}]\n"
            yield _chunk(cid, model, {"reasoning_content": head + token.text})
    try:
        result = cached or await _finish(gw, task_id)
    except ApiError as exc:  # the task failed after the stream began: say so, in-band
        yield f"data: {json.dumps({'error': {'message': exc.detail, 'code': exc.status}})}\n\n"
        return
    for i in range(0, len(result.answer), CHUNK_CHARS):
        yield _chunk(cid, model, {"content": result.answer[i : i + CHUNK_CHARS]})
    done = _completion(model, result)
    yield _chunk(cid, model, {}, "stop", usage=done["usage"], naestro=done["naestro"])
    yield "data: [DONE]\n\n"


@router.get("/models", response_model=ModelList)
async def list_models(who: Reader, gw: GatewayDep) -> ModelList:
    return ModelList(data=[ModelCard(id=m) for m in model_ids(gw)])


@router.post(
    "/chat/completions",
    responses={
        200: {"content": {"application/json": {}, "text/event-stream": {}}},
        413: {"model": Message},
        502: {"model": Message, "description": "the task failed"},
        **NOT_FOUND,
    },
)
async def chat_completions(body: ChatRequest, who: Writer, gw: GatewayDep) -> Any:
    """Run the orchestration the model names; answer as OpenAI does (or stream it)."""
    task_id, cached = await _run(gw, who, body)
    if body.stream:
        return StreamingResponse(
            _stream(gw, task_id, body.model, cached), media_type="text/event-stream"
        )
    result = cached or await _finish(gw, task_id)
    return JSONResponse(_completion(body.model, result))
