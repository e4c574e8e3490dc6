"""What each provider puts on the wire, as scripted replies for :mod:`tests.providers.wire`,
and the Naestro side of a call."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from naestro.contracts import ChatMessage, ModelRequest
from tests.providers.wire import Reply

MESSAGES = [
    ChatMessage(role="system", content="You are terse."),
    ChatMessage(role="user", content="Add two numbers."),
    ChatMessage(role="assistant", content="Which numbers?"),
    ChatMessage(role="user", content="2 and 3."),
]


def chat_request(provider_id: str, *, stream: bool = False, max_tokens: int = 300) -> ModelRequest:
    return ModelRequest(
        provider_id=provider_id,
        role="implementer",
        phase="implement",
        messages=MESSAGES,
        max_output_tokens=max_tokens,
        temperature=0.3,
        stream=stream,
    )


def sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


# ---------------------------------------------------------------- OpenAI chat completions


def openai_usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> Any:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def openai_completion(text: str, *, model: str, usage: Any) -> Any:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def _openai_chunk(model: str, choices: list[Any], usage: Any = None) -> str:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return sse(chunk)


def openai_stream(pieces: list[str], *, model: str, usage: Any) -> Reply:
    """One chunk per piece, a finish chunk, then the usage chunk ``include_usage`` asks for."""
    frames = [_openai_chunk(model, [{"index": 0, "delta": {"role": "assistant"}}])]
    frames += [_openai_chunk(model, [{"index": 0, "delta": {"content": p}}]) for p in pieces]
    frames.append(_openai_chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    frames.append(_openai_chunk(model, [], usage))
    frames.append("data: [DONE]\n\n")
    return Reply(events=tuple(frames))


def openai_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    body = {"error": {"message": message, "type": "api_error", "code": None, "param": None}}
    return Reply(status, body, headers=dict(headers or {}))


# ---------------------------------------------------------------- Anthropic messages


def anthropic_usage(inputs: int, output: int, cache_read: int = 0, cache_write: int = 0) -> Any:
    return {
        "input_tokens": inputs,
        "output_tokens": output,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def anthropic_message(text: str, *, model: str, usage: Any) -> Any:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def anthropic_stream(pieces: list[str], *, model: str, usage: Any) -> Reply:
    """message_start (input usage), text deltas, message_delta (output usage), message_stop."""
    start = anthropic_message("", model=model, usage={**usage, "output_tokens": 1})
    start["content"], start["stop_reason"] = [], None
    frames = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    frames += [
        sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            "content_block_delta",
        )
        for p in pieces
    ]
    frames += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return Reply(events=tuple(frames))


def anthropic_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return Reply(status, body, headers=dict(headers or {}))


# ---------------------------------------------------------------- Gemini generateContent


def gemini_usage(prompt: int, candidates: int, thoughts: int = 0, cached: int = 0) -> Any:
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    return usage


def gemini_response(
    parts: list[Any], *, model_version: str, usage: Any = None, finish: str | None = "STOP"
) -> Any:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": model_version}
    if usage is not None:
        response["usageMetadata"] = usage
    return response


def gemini_stream(pieces: list[str], *, model_version: str, usage: Any) -> Reply:
    """``alt=sse``: one response per piece; the last carries finishReason and usage."""
    last = len(pieces) - 1
    frames = [
        sse(
            gemini_response(
                [{"text": p}],
                model_version=model_version,
                usage=usage if i == last else None,
                finish="STOP" if i == last else None,
            )
        )
        for i, p in enumerate(pieces)
    ]
    return Reply(events=tuple(frames))


def gemini_error(
    status: int, message: str, headers: Mapping[str, str] | None = None, details: Any = None
) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": "UNAVAILABLE"}
    if details is not None:
        error["details"] = details
    return Reply(status, {"error": error}, headers=dict(headers or {}))


# ---------------------------------------------------------------- native tool calls


def openai_tool_calls(calls: list[tuple[str, str, Any]], *, model: str, usage: Any) -> Any:
    """A completion that calls tools: ``(id, name, arguments)`` each."""
    body = openai_completion("", model=model, usage=usage)
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in calls
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def openai_tool_call_stream(
    calls: list[tuple[str, str, Any]], *, model: str, usage: Any, text: str = ""
) -> Reply:
    """Tool calls as a server streams them: per call a first delta with its id and name,
    then its JSON arguments in two pieces, all keyed by the call's index."""
    frames = [_openai_chunk(model, [{"index": 0, "delta": {"role": "assistant"}}])]
    if text:
        frames.append(_openai_chunk(model, [{"index": 0, "delta": {"content": text}}]))
    for index, (call_id, name, arguments) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function"}
        head["function"] = {"name": name, "arguments": ""}
        frames.append(_openai_chunk(model, [{"index": 0, "delta": {"tool_calls": [head]}}]))
        raw = json.dumps(arguments)
        for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            frames.append(_openai_chunk(model, [{"index": 0, "delta": delta}]))
    finish = {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    frames += [_openai_chunk(model, [finish]), _openai_chunk(model, [], usage), "data: [DONE]\n\n"]
    return Reply(events=tuple(frames))


def anthropic_tool_use(calls: list[tuple[str, str, Any]], *, model: str, usage: Any) -> Any:
    body = anthropic_message("", model=model, usage=usage)
    body["content"] = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
    body["stop_reason"] = "tool_use"
    return body


def anthropic_tool_use_stream(
    calls: list[tuple[str, str, Any]], *, model: str, usage: Any, text: str = ""
) -> Reply:
    """A text block (when ``text``), then one tool_use block per call whose JSON input
    arrives in two input_json_delta pieces."""
    start = anthropic_message("", model=model, usage={**usage, "output_tokens": 1})
    start["content"], start["stop_reason"] = [], None
    frames = [sse({"type": "message_start", "message": start}, "message_start")]
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if text:
        blocks.append(({"type": "text", "text": ""}, [{"type": "text_delta", "text": text}]))
    for call_id, name, arguments in calls:
        raw = json.dumps(arguments)
        pieces = [raw[: len(raw) // 2], raw[len(raw) // 2 :]]
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        blocks.append((block, [{"type": "input_json_delta", "partial_json": p} for p in pieces]))
    for index, (block, deltas) in enumerate(blocks):
        start_block = {"type": "content_block_start", "index": index, "content_block": block}
        frames.append(sse(start_block, "content_block_start"))
        for delta in deltas:
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            frames.append(sse(event, "content_block_delta"))
        frames.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    end = {"stop_reason": "tool_use", "stop_sequence": None}
    frames += [
        sse(
            {"type": "message_delta", "delta": end, "usage": {"output_tokens": 9}},
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return Reply(events=tuple(frames))


def gemini_function_calls(calls: list[tuple[str | None, str, Any]]) -> list[Any]:
    """The parts of a reply that calls functions (``id`` None: Gemini gave it none)."""
    parts = []
    for call_id, name, arguments in calls:
        call: dict[str, Any] = {"name": name, "args": arguments}
        if call_id is not None:
            call["id"] = call_id
        parts.append({"functionCall": call})
    return parts
