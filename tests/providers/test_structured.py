"""Structured output on the wire: each adapter sends the role's JSON schema through its
provider's native feature, against loopback servers speaking the provider's protocol."""

from __future__ import annotations

import json
from contextlib import aclosing

from activities.models.anthropic_msgs import AnthropicProvider
from activities.models.google_genai import GoogleProvider
from activities.models.openai_compat import OpenAIProvider
from naestro.config.settings import ProviderConfig
from naestro.contracts import JudgeVerdict, ModelRequest
from naestro.structured import schema_for, validate
from tests.providers.payloads import (
    anthropic_message,
    anthropic_usage,
    chat_request,
    gemini_response,
    gemini_usage,
    openai_completion,
    openai_stream,
    openai_usage,
)
from tests.providers.wire import Reply, WireServer

SCHEMA = schema_for(JudgeVerdict)
VERDICT = {"verdict": "accept", "score": 0.8, "rationale": "sound"}


def structured_request(provider_id: str) -> ModelRequest:
    return chat_request(provider_id).model_copy(
        update={"response_schema": SCHEMA, "schema_name": "JudgeVerdict"}
    )


def openai_like(endpoint: str, engine: str, key_env: str | None) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"id": engine, "engine": engine, "model": "m", "endpoint": endpoint, "api_key_env": key_env}
    )


async def test_openai_sends_a_json_schema_response_format(wire: WireServer, key_env: str) -> None:
    path = "/v1/chat/completions"
    body = openai_completion(json.dumps(VERDICT), model="m", usage=openai_usage(10, 5))
    wire.script(path, Reply(body=body))
    provider = OpenAIProvider(openai_like(wire.url + "/v1", "openai", key_env))
    async with aclosing(provider):
        response = await provider.complete(structured_request("openai"))

    sent = wire.last().body
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "JudgeVerdict", "schema": SCHEMA, "strict": False},
    }
    assert "guided_json" not in sent
    assert validate(JudgeVerdict, response.text).score == 0.8


async def test_vllm_gets_the_json_schema_response_format_not_guided_json(
    wire: WireServer,
) -> None:
    path = "/v1/chat/completions"
    body = openai_completion(json.dumps(VERDICT), model="m", usage=openai_usage(10, 5))
    wire.script(path, Reply(body=body))
    async with aclosing(OpenAIProvider(openai_like(wire.url + "/v1", "vllm", None))) as provider:
        await provider.complete(structured_request("vllm"))

    sent = wire.last().body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "guided_json" not in sent  # other servers ignore it silently


async def test_llamacpp_gets_a_json_object_with_its_schema(wire: WireServer) -> None:
    """llama.cpp's server answers a json_schema response format with HTTP 500; a json_object
    carrying the schema constrains the reply by grammar."""
    path = "/v1/chat/completions"
    body = openai_completion(json.dumps(VERDICT), model="m", usage=openai_usage(10, 5))
    wire.script(path, Reply(body=body))
    config = openai_like(wire.url + "/v1", "llamacpp", None)
    async with aclosing(OpenAIProvider(config)) as provider:
        await provider.complete(structured_request("llamacpp"))

    assert wire.last().body["response_format"] == {"type": "json_object", "schema": SCHEMA}


async def test_reasoning_models_get_no_temperature(wire: WireServer, key_env: str) -> None:
    path = "/v1/chat/completions"
    wire.script(path, Reply(body=openai_completion("ok", model="o3", usage=openai_usage(1, 1))))
    config = openai_like(wire.url + "/v1", "openai", key_env).model_copy(update={"model": "o3"})
    async with aclosing(OpenAIProvider(config)) as provider:
        await provider.complete(chat_request("openai"))

    sent = wire.last().body
    assert "temperature" not in sent and "max_tokens" not in sent
    assert sent["max_completion_tokens"] == 300


async def test_llamacpp_stream_usage_comes_from_the_models_tokenizer(wire: WireServer) -> None:
    """llama.cpp streams no usage: the reply and the prompt are counted by the engine's own
    tokenizer endpoint, so the ledger books real tokens."""
    wire.script("/v1/chat/completions", openai_stream(["Hel", "lo"], model="m", usage=None))
    wire.script("/extras/tokenize/count", Reply(body={"count": 7}), Reply(body={"count": 2}))
    config = openai_like(wire.url + "/v1", "llamacpp", None)
    request = chat_request("llamacpp", stream=True)
    async with aclosing(OpenAIProvider(config)) as provider:
        response = await provider.complete(request)

    chat = next(r for r in wire.requests if r.path == "/v1/chat/completions")
    assert "stream_options" not in chat.body
    counted = [r.body["input"] for r in wire.requests if r.path == "/extras/tokenize/count"]
    assert counted[1] == "Hello"
    framing = 4 * len(request.messages)  # the chat template's markers per message
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7 + framing, 2)


async def test_plain_requests_carry_no_schema(wire: WireServer) -> None:
    path = "/v1/chat/completions"
    wire.script(path, Reply(body=openai_completion("hi", model="m", usage=openai_usage(1, 1))))
    async with aclosing(OpenAIProvider(openai_like(wire.url + "/v1", "vllm", None))) as provider:
        await provider.complete(chat_request("vllm"))

    assert not {"guided_json", "response_format"} & set(wire.last().body)


async def test_anthropic_forces_a_tool_whose_input_is_the_reply(
    wire: WireServer, key_env: str
) -> None:
    message = anthropic_message("", model="claude-test", usage=anthropic_usage(10, 5))
    message["content"] = [
        {"type": "tool_use", "id": "toolu_1", "name": "JudgeVerdict", "input": VERDICT}
    ]
    message["stop_reason"] = "tool_use"
    wire.script("/v1/messages", Reply(body=message))
    config = ProviderConfig(
        id="claude", engine="anthropic", model="claude-test", endpoint=wire.url, api_key_env=key_env
    )
    async with aclosing(AnthropicProvider(config)) as provider:
        response = await provider.complete(structured_request("claude"))

    sent = wire.last().body
    assert sent["tools"] == [
        {
            "name": "JudgeVerdict",
            "description": "Reply with a JudgeVerdict object.",
            "input_schema": SCHEMA,
        }
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": "JudgeVerdict"}
    assert validate(JudgeVerdict, response.text) == JudgeVerdict.model_validate(VERDICT)


async def test_gemini_sends_a_response_schema(wire: WireServer, key_env: str) -> None:
    path = "/v1beta/models/gemini-test:generateContent"
    reply = gemini_response(
        [{"text": json.dumps(VERDICT)}], model_version="g", usage=gemini_usage(10, 5)
    )
    wire.script(path, Reply(body=reply))
    config = ProviderConfig(
        id="gemini", engine="google", model="gemini-test", endpoint=wire.url, api_key_env=key_env
    )
    async with aclosing(GoogleProvider(config)) as provider:
        response = await provider.complete(structured_request("gemini"))

    generation = wire.last().body["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseJsonSchema"] == SCHEMA
    assert validate(JudgeVerdict, response.text).verdict == "accept"
