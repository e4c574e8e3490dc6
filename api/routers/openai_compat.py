"""OpenAI-compatible endpoints: the model name selects an orchestration.

`naestro-task` runs TaskWorkflow under the default policy, `naestro-task:<policy>` under a
named one, `naestro-consensus` under the policy whose phases deliberate (the one named
`consensus`, else the first with a `consensus:` section). The official `openai` client
works unchanged (base_url=<api>/v1, api_key=an nk_ key or a JWT). A stream sends SSE
comments (`: phase ...`) while the workflow runs, then the answer as chunks and
`data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowFailureError

from api import service
from api.auth import Principal
from api.deps import GatewayDep, Reader, Writer
from api.models import ERRORS, NOT_FOUND, Message, TaskCreate
from api.service import ApiError, Gateway
from naestro.contracts import TaskResult

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)
BASE_MODEL = "naestro-task"
CONSENSUS_MODEL = "naestro-consensus"
# The finished answer goes out in small pieces (live token streaming is a later feature).
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


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, ...: accepted, not used
    model: str = Field(min_length=1)
    messages: list[InMessage] = Field(min_length=1)
    stream: bool = False


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
        "naestro": {
            "task_id": result.task_id,
            "status": result.status,
            "reason": result.reason,
            "confidence": result.confidence,
        },
    }


async def _run(gw: Gateway, who: Principal, body: ChatRequest) -> tuple[str, TaskResult | None]:
    task = TaskCreate(prompt=_prompt(body.messages) or " ", policy=_policy(gw, body.model))
    view = await service.submit(gw, who, task, None, use_cache=True)
    return view.task_id, view.result


async def _finish(gw: Gateway, task_id: str) -> TaskResult:
    try:
        result = await gw.handle(task_id).result()
    except WorkflowFailureError as exc:
        raise ApiError(502, f"task {task_id} failed: {exc.cause or exc}") from None
    await gw.cache.settle(result)
    return result


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def _stream(
    gw: Gateway, task_id: str, model: str, cached: TaskResult | None
) -> AsyncIterator[str]:
    cid = f"chatcmpl-{task_id}"
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    waiting = None if cached else asyncio.ensure_future(_finish(gw, task_id))
    try:
        while waiting is not None and not waiting.done():
            view = await service.status_view(gw, task_id)
            if view is not None:
                yield f": phase {view.phase} round {view.round}\n\n"  # a comment: ignored
            await asyncio.wait({waiting}, timeout=1.0)
        result = cached or (waiting.result() if waiting else None)
    except ApiError as exc:  # the task failed after the stream began: say so, in-band
        yield f"data: {json.dumps({'error': {'message': exc.detail, 'code': exc.status}})}\n\n"
        return
    finally:
        if waiting is not None and not waiting.done():
            waiting.cancel()
    assert result is not None
    for i in range(0, len(result.answer), CHUNK_CHARS):
        yield _chunk(cid, model, {"content": result.answer[i : i + CHUNK_CHARS]})
    yield _chunk(cid, model, {}, "stop")
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
