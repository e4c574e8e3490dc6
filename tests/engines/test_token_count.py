"""Budget reservations from a local engine's own tokenizer (activities/routing/tokens.py),
over loopback: llama.cpp's /extras/tokenize/count and vLLM's /tokenize; an engine that
cannot count falls back to the byte-level bound."""

from __future__ import annotations

from activities.routing.activity import RoutingActivities
from activities.routing.tokens import TEMPLATE_FIXED, TEMPLATE_OVERHEAD
from naestro.config.settings import Settings
from naestro.contracts import CallRouteRequest, ChatMessage
from tests.providers.wire import Reply, WireServer

MODEL = "local-model"
MESSAGES = [
    ChatMessage(role="system", content="You write Python."),
    ChatMessage(role="user", content="Write fizzbuzz. " * 50),
]


def _routing(engine: str, wire: WireServer) -> RoutingActivities:
    provider = {"id": "gpu", "engine": engine, "model": MODEL, "endpoint": f"{wire.url}/v1"}
    roles = {"implementer": ["gpu"], "judge": ["gpu"]}
    settings = Settings.model_validate(
        {"providers": [provider], "policies": {"default": {"roles": roles}}}
    )
    wire.serve_models(MODEL)
    return RoutingActivities(settings)


def _ask() -> CallRouteRequest:
    return CallRouteRequest(
        policy="default",
        role="implementer",
        phase="implement",
        messages=MESSAGES,
        max_output_tokens=256,
    )


async def test_llamacpp_counts_with_its_tokenizer_and_adds_the_template() -> None:
    with WireServer() as wire:
        wire.script("/extras/tokenize/count", Reply(body={"count": 210}))
        route = await _routing("llamacpp", wire).route(_ask())
        [request] = wire.requests
    assert request.body["model"] == MODEL and "fizzbuzz" in request.body["input"]
    assert route.token_counter == "engine:llamacpp"
    assert route.prompt_tokens == 210 + 4 * len(MESSAGES)
    framing = TEMPLATE_OVERHEAD * len(MESSAGES) + TEMPLATE_FIXED + 3
    assert route.prompt_tokens_max == route.prompt_tokens + framing
    size = sum(len(m.content.encode()) for m in MESSAGES)
    assert route.prompt_tokens_max < size / 2  # the byte bound would reserve ~4x more


async def test_vllm_counts_the_templated_prompt() -> None:
    with WireServer() as wire:
        wire.script("/tokenize", Reply(body={"count": 230, "max_model_len": 8192, "tokens": []}))
        route = await _routing("vllm", wire).route(_ask())
        [request] = wire.requests
    assert request.body["add_generation_prompt"] is True
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert (route.token_counter, route.prompt_tokens, route.prompt_tokens_max) == (
        "engine:vllm",
        230,
        233,
    )


async def test_an_engine_that_cannot_count_falls_back_to_the_byte_bound() -> None:
    with WireServer() as wire:  # no tokenize endpoint scripted: 404
        route = await _routing("llamacpp", wire).route(_ask())
    size = sum(len(m.content.encode()) for m in MESSAGES)
    assert route.token_counter == "estimate:chars/4"
    assert route.prompt_tokens_max >= size
