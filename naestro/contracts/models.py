"""Model calls: chat messages, the model activity's request and response, usage, trace entries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from naestro.contracts.base import Frozen
from naestro.contracts.tools import ToolCall, ToolChoice, ToolSpec


class Usage(Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


class ModelCall(Frozen):
    """One model call as it appears in a task's trace."""

    phase: str
    role: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    scripted: bool = False
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    gpu_seconds: float = 0.0
    route_reason: str = ""

    @classmethod
    def of(
        cls, phase: str, role: str, r: ModelResponse, *, gpus: int = 0, reason: str = ""
    ) -> ModelCall:
        """The trace entry of a response; GPU-seconds = latency x the engine's GPUs."""
        return cls(
            phase=phase,
            role=role,
            provider=r.provider_id,
            model=r.model,
            input_tokens=r.usage.input_tokens,
            output_tokens=r.usage.output_tokens,
            cost_usd=r.cost_usd,
            latency_ms=r.latency_ms,
            scripted=r.scripted,
            cached_input_tokens=r.usage.cached_input_tokens,
            reasoning_tokens=r.usage.reasoning_tokens,
            gpu_seconds=round(r.latency_ms / 1000 * gpus, 6),
            route_reason=reason,
        )


class ChatMessage(Frozen):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    # An assistant turn that called tools; a "tool" turn answers the call with this id
    tool_calls: list[ToolCall] = []
    tool_call_id: str = ""


class ModelRequest(Frozen):
    provider_id: str
    role: str
    phase: str
    messages: list[ChatMessage]
    max_output_tokens: int = Field(default=2048, ge=1)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    stream: bool = False
    task_id: str = ""
    tenant: str = ""  # for per-tenant usage metrics ("" reads as "default")
    # Structured output: a JSON schema the reply must follow, sent through each provider's
    # native feature (OpenAI json_schema, Anthropic tool input, Gemini response_schema,
    # vLLM guided decoding). None: free text.
    response_schema: dict[str, Any] | None = None
    schema_name: str = "reply"
    # A streamed call publishes its reply's pieces on its workflow's stream every this many
    # milliseconds (0: no live tokens; the workflow must host a WorkflowStream)
    live_tokens_ms: int = Field(default=0, ge=0)
    # Tools the model may call through its provider's native function calling; "none":
    # declared (the conversation holds calls to them) but not to be called any more
    tools: list[ToolSpec] = []
    tool_choice: ToolChoice = "auto"


class ModelResponse(Frozen):
    provider_id: str
    model: str
    text: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    finish_reason: str = ""
    scripted: bool = False
    tool_calls: list[ToolCall] = []  # the calls the model asked for (ModelRequest.tools)
    # A streamed call's live tokens its activity held back (one signal, one workflow task
    # less a call): it names the call (TokenDelta.call) here, and the workflow hosting the
    # stream publishes them as the call's final piece: ``unpublished_tail`` when earlier
    # pieces went out, the whole text when none did (None; and in replies from before).
    unpublished_call: str = ""
    unpublished_tail: str | None = None
