"""What each OpenAI-compatible engine supports, so the adapter sends what it accepts.

Checked against the servers themselves (tests over loopback replay each server's answers):
- llama.cpp's servers answer `response_format: {"type": "json_schema", ...}` with HTTP 500
  (llama-cpp-python) or ignore its schema; `{"type": "json_object", "schema": {...}}`
  constrains the reply by grammar. They send no usage in streamed replies: the adapter
  counts tokens with the model's own tokenizer (`/extras/tokenize/count`) instead.
- vLLM accepts OpenAI's `json_schema` response format (its guided decoding behind it);
  its older `guided_json` extra parameter is ignored by every other server.
- OpenAI's reasoning models (o-series, gpt-5) refuse `temperature` other than the default
  and `max_tokens` (they take `max_completion_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from naestro.config.settings import ProviderConfig

SchemaMode = Literal["json_schema", "json_object_schema"]
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


@dataclass(frozen=True)
class Capabilities:
    schema_mode: SchemaMode = "json_schema"
    streamed_usage: bool = True
    max_completion_tokens: bool = False  # send max_completion_tokens, not max_tokens
    temperature: bool = True  # the model takes a temperature
    tokenizer_endpoint: bool = False  # /extras/tokenize/count (llama-cpp-python's server)


def capabilities(config: ProviderConfig) -> Capabilities:
    if config.engine == "llamacpp":
        return Capabilities(
            schema_mode="json_object_schema", streamed_usage=False, tokenizer_endpoint=True
        )
    if config.engine == "openai":
        model = config.model.lower().rsplit("/", 1)[-1]
        reasoning = model.startswith(_REASONING_PREFIXES)
        return Capabilities(max_completion_tokens=True, temperature=not reasoning)
    return Capabilities()


def response_format(caps: Capabilities, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` that makes this engine follow ``schema``."""
    if caps.schema_mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
