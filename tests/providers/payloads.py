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
