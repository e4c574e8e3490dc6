"""Native function calling in each adapter, against a loopback server speaking its wire
protocol: what the tools, the calls and their results look like on the wire, and the calls
read back from plain and streamed replies."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

from activities.models.anthropic_msgs import AnthropicProvider
from activities.models.google_genai import MADE_UP_ID, GoogleProvider
from activities.models.openai_compat import OpenAIProvider
from naestro.config.settings import ProviderConfig
from naestro.contracts import ChatMessage, ModelRequest, ToolCall, ToolSpec
from tests.providers.payloads import (
    anthropic_message,
    anthropic_tool_use,
    anthropic_tool_use_stream,
    anthropic_usage,
    gemini_function_calls,
    gemini_response,
    gemini_usage,
    openai_completion,
    openai_tool_call_stream,
    openai_tool_calls,
    openai_usage,
    sse,
)
from tests.providers.wire import Reply, WireServer

SHOUT = ToolSpec(
    name="echo__shout",
    description="Upper-case a text.",
    parameters={"type": "object", "properties": {"text": {"type": "string"}}},
    server="echo",
    tool="shout",
)
CALL = ToolCall(id="call_1", name="echo__shout", arguments={"text": "hi"})
# A conversation after one round of tools: the call, its (fenced) result, a note.
AFTER_TOOLS = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Shout hi."),
    ChatMessage(role="assistant", content="Calling.", tool_calls=[CALL]),
    ChatMessage(role="tool", content="<<untrusted>>HI", tool_call_id="call_1"),
    ChatMessage(role="user", content="Now answer."),
]


def config(engine: str, endpoint: str, key_env: str | None = None) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"id": "p", "engine": engine, "model": "m", "endpoint": endpoint, "api_key_env": key_env}
    )


def request(
    messages: list[ChatMessage] | None = None, *, stream: bool = False, choice: str = "auto"
) -> ModelRequest:
    return ModelRequest.model_validate(
        {
            "provider_id": "p",
            "role": "implementer",
            "phase": "implement",
            "messages": messages or AFTER_TOOLS[:2],
            "stream": stream,
            "tools": [SHOUT],
            "tool_choice": choice,
        }
    )


# ---------------------------------------------------------------- OpenAI chat completions

OPENAI = "/v1/chat/completions"


async def test_openai_sends_tools_and_the_conversation_and_reads_calls(wire: WireServer) -> None:
    calls = [("call_9", "echo__shout", {"text": "yo"}), ("call_10", "echo__shout", {})]
    wire.script(OPENAI, Reply(body=openai_tool_calls(calls, model="m", usage=openai_usage(5, 5))))
    async with aclosing(OpenAIProvider(config("vllm", wire.url + "/v1"))) as provider:
        response = await provider.complete(request(AFTER_TOOLS))

    body = wire.last().body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "echo__shout",
                "description": "Upper-case a text.",
                "parameters": SHOUT.parameters,
            },
        }
    ]
    assert body["tool_choice"] == "auto"
    assistant, tool = body["messages"][2], body["messages"][3]
    assert assistant["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "echo__shout", "arguments": json.dumps({"text": "hi"})},
        }
    ]
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "<<untrusted>>HI"}
    assert response.tool_calls == [
        ToolCall(id="call_9", name="echo__shout", arguments={"text": "yo"}),
        ToolCall(id="call_10", name="echo__shout", arguments={}),
    ]
    assert response.finish_reason == "tool_calls"


async def test_openai_streamed_calls_are_put_together_by_index(wire: WireServer) -> None:
    calls = [("a", "echo__shout", {"text": "one"}), ("b", "echo__shout", {"text": "two"})]
    wire.script(
        OPENAI, openai_tool_call_stream(calls, model="m", usage=openai_usage(5, 5), text="Hm.")
    )
    pieces: list[str] = []
    async with aclosing(OpenAIProvider(config("vllm", wire.url + "/v1"))) as provider:
        response = await provider.complete(request(stream=True, choice="none"), pieces.append)

    assert wire.last().body["tool_choice"] == "none"
    assert response.text == "Hm." and "".join(pieces) == "Hm."
    assert response.tool_calls == [
        ToolCall(id="a", name="echo__shout", arguments={"text": "one"}),
        ToolCall(id="b", name="echo__shout", arguments={"text": "two"}),
    ]


async def test_openai_without_tools_sends_none(wire: WireServer) -> None:
    wire.script(OPENAI, Reply(body=openai_completion("ok", model="m", usage=openai_usage(1, 1))))
    plain = request().model_copy(update={"tools": []})
    async with aclosing(OpenAIProvider(config("vllm", wire.url + "/v1"))) as provider:
        response = await provider.complete(plain)
    assert "tools" not in wire.last().body and "tool_choice" not in wire.last().body
    assert response.tool_calls == []


# ---------------------------------------------------------------- Anthropic messages

ANTHROPIC = "/v1/messages"


async def test_anthropic_sends_tool_use_and_results_and_reads_calls(
    wire: WireServer, key_env: str
) -> None:
    calls = [("toolu_1", "echo__shout", {"text": "yo"})]
    wire.script(
        ANTHROPIC, Reply(body=anthropic_tool_use(calls, model="m", usage=anthropic_usage(5, 5)))
    )
    async with aclosing(AnthropicProvider(config("anthropic", wire.url, key_env))) as provider:
        response = await provider.complete(request(AFTER_TOOLS))

    body = wire.last().body
    assert body["tools"] == [
        {
            "name": "echo__shout",
            "description": "Upper-case a text.",
            "input_schema": SHOUT.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "call_1", "name": "echo__shout", "input": {"text": "hi"}},
    ]
    assert body["messages"][2]["content"] == [  # the result, and the note after it, merged
        {"type": "tool_result", "tool_use_id": "call_1", "content": "<<untrusted>>HI"},
        {"type": "text", "text": "Now answer."},
    ]
    assert response.tool_calls == [
        ToolCall(id="toolu_1", name="echo__shout", arguments={"text": "yo"})
    ]
    assert response.text == ""


async def test_anthropic_streamed_tool_input_is_put_together(
    wire: WireServer, key_env: str
) -> None:
    calls = [("toolu_2", "echo__shout", {"text": "streamed"})]
    usage = anthropic_usage(5, 5)
    wire.script(ANTHROPIC, anthropic_tool_use_stream(calls, model="m", usage=usage, text="Hm."))
    pieces: list[str] = []
    async with aclosing(AnthropicProvider(config("anthropic", wire.url, key_env))) as provider:
        response = await provider.complete(request(stream=True, choice="none"), pieces.append)

    assert wire.last().body["tool_choice"] == {"type": "none"}
    assert response.text == "Hm." and "".join(pieces) == "Hm."  # no JSON among the tokens
    assert response.tool_calls == [
        ToolCall(id="toolu_2", name="echo__shout", arguments={"text": "streamed"})
    ]


async def test_anthropic_structured_output_still_forces_its_tool(
    wire: WireServer, key_env: str
) -> None:
    body = anthropic_message("", model="m", usage=anthropic_usage(5, 5))
    body["content"] = [{"type": "tool_use", "id": "t", "name": "Verdict", "input": {"ok": True}}]
    wire.script(ANTHROPIC, Reply(body=body))
    structured = request().model_copy(
        update={"tools": [], "response_schema": {"type": "object"}, "schema_name": "Verdict"}
    )
    async with aclosing(AnthropicProvider(config("anthropic", wire.url, key_env))) as provider:
        response = await provider.complete(structured)

    assert wire.last().body["tool_choice"] == {"type": "tool", "name": "Verdict"}
    assert json.loads(response.text) == {"ok": True}
    assert response.tool_calls == []


# ---------------------------------------------------------------- Gemini generateContent

GEMINI = "/v1beta/models/m:generateContent"
GEMINI_STREAM = "/v1beta/models/m:streamGenerateContent"


def _parts(body: Any, index: int) -> Any:
    return body["contents"][index]["parts"]


async def test_google_sends_function_declarations_and_reads_calls(
    wire: WireServer, key_env: str
) -> None:
    parts = gemini_function_calls(
        [("fc-1", "echo__shout", {"text": "yo"}), (None, "echo__shout", {})]
    )
    reply = gemini_response(parts, model_version="m-001", usage=gemini_usage(5, 5))
    wire.script(GEMINI, Reply(body=reply))
    async with aclosing(GoogleProvider(config("google", wire.url, key_env))) as provider:
        response = await provider.complete(request(AFTER_TOOLS))

    body = wire.last().body
    [declared] = body["tools"][0]["functionDeclarations"]
    assert declared["name"] == "echo__shout"
    # The SDK sends the proto field's own name, which the API reads as well as camelCase.
    schema = declared.get("parametersJsonSchema", declared.get("parameters_json_schema"))
    assert schema == SHOUT.parameters
    assert body["toolConfig"]["functionCallingConfig"]["mode"] == "AUTO"
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert _parts(body, 1)[1]["functionCall"] == {
        "id": "call_1",
        "name": "echo__shout",
        "args": {"text": "hi"},
    }
    assert _parts(body, 2)[0]["functionResponse"] == {
        "id": "call_1",
        "name": "echo__shout",  # named after the call it answers
        "response": {"result": "<<untrusted>>HI"},
    }
    assert _parts(body, 2)[1] == {"text": "Now answer."}
    assert response.tool_calls == [
        ToolCall(id="fc-1", name="echo__shout", arguments={"text": "yo"}),
        ToolCall(id=f"{MADE_UP_ID}1", name="echo__shout", arguments={}),
    ]


async def test_google_streamed_calls_and_made_up_ids_stay_off_the_wire(
    wire: WireServer, key_env: str
) -> None:
    usage = gemini_usage(5, 5)
    first = gemini_response([{"text": "Hm."}], model_version="m-001", finish=None)
    second = gemini_response(
        gemini_function_calls([(None, "echo__shout", {"text": "s"})]),
        model_version="m-001",
        usage=usage,
    )
    wire.script(GEMINI_STREAM, Reply(events=(sse(first), sse(second))))
    pieces: list[str] = []
    async with aclosing(GoogleProvider(config("google", wire.url, key_env))) as provider:
        response = await provider.complete(request(stream=True, choice="none"), pieces.append)
        [call] = response.tool_calls
        assert call == ToolCall(id=f"{MADE_UP_ID}0", name="echo__shout", arguments={"text": "s"})
        assert wire.last().body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"
        assert response.text == "Hm." and "".join(pieces) == "Hm."

        wire.script(GEMINI, Reply(body=gemini_response([{"text": "done"}], model_version="m")))
        after = [
            *AFTER_TOOLS[:2],
            ChatMessage(role="assistant", content="", tool_calls=[call]),
            ChatMessage(role="tool", content="S", tool_call_id=call.id),
        ]
        await provider.complete(request(after))

    body = wire.last().body
    assert _parts(body, 1) == [{"functionCall": {"name": "echo__shout", "args": {"text": "s"}}}]
    assert _parts(body, 2) == [
        {"functionResponse": {"name": "echo__shout", "response": {"result": "S"}}}
    ]
