"""Routing: policy resolution, per-call routes and the call outcomes the governor learns from."""

from __future__ import annotations

from pydantic import Field

from naestro.contracts.approval import ApprovalPolicy
from naestro.contracts.base import Frozen, Location
from naestro.contracts.consensus import ConsensusPolicy, RefineMode, Review
from naestro.contracts.models import ChatMessage
from naestro.contracts.plan import SubtaskPolicy
from naestro.contracts.tools import ToolsPolicy


class RouteRequest(Frozen):
    policy: str
    roles: list[str]
    prompt_tokens: int = 0
    contains_pii: bool = False
    tenant: str = "default"  # whose PII policy applies


class RoutedProvider(Frozen):
    provider_id: str
    task_queue: str
    location: Location
    model: str
    context_window: int
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    gpus: int = 0  # GPUs behind a local engine: a call books latency x gpus GPU-seconds


class PolicySpec(Frozen):
    """What a workflow needs to know of a policy, resolved once in a local activity."""

    name: str
    routes: dict[str, RoutedProvider]  # role -> provider
    judge_threshold: float = 0.7
    min_improvement: float = 0.25
    max_output_tokens: int = 2048
    sandbox_task_queue: str = "naestro.sandbox"
    verify_timeout_seconds: int = 60
    heartbeat_timeout_seconds: int = 30
    stream: bool = False
    live_tokens_ms: int = 0  # streamed calls publish live tokens this often (0: off)
    consensus: ConsensusPolicy | None = None
    approval: ApprovalPolicy = ApprovalPolicy()
    memory_task_queue: str | None = None  # None: the task neither recalls nor writes back
    call_attempts: int = 2  # attempts on one provider before a call goes to its fallback
    plan: bool = True
    write_tests: bool = True
    review: Review = "always"
    temperature: float = 0.2
    refine: RefineMode = "revise"
    resample_temperature: float = 0.8
    subtasks: SubtaskPolicy = SubtaskPolicy()
    tools: ToolsPolicy | None = None  # None: the task's models are offered no tools


class CallOutcome(Frozen):
    """What one routed call did, reported to the governor with the next routing decision."""

    provider_id: str
    ok: bool
    latency_ms: float = 0.0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str = ""
    # Unique per outcome (workflow run and sequence): a routing local activity run again
    # after a workflow-task retry hands the same outcomes over, which count once.
    key: str = ""


class CallRouteRequest(Frozen):
    policy: str
    role: str
    phase: str
    messages: list[ChatMessage]
    max_output_tokens: int = 2048
    contains_pii: bool = False
    slm_draw: float = Field(default=1.0, ge=0, le=1, description="workflow.random() draw")
    prefer_index: int = Field(default=0, ge=0, description="rotate the candidates (proposer i)")
    exclude: list[str] = []
    outcomes: list[CallOutcome] = []
    tenant: str = "default"  # whose PII policy (block / redact / allow) applies


class CallRoute(Frozen):
    role: str  # the role whose providers served: the asked role, "slm" or "long_context"
    provider: RoutedProvider
    prompt_tokens: int
    token_counter: str  # "bpe:o200k_base" (OpenAI family) or "estimate:chars/4"
    reason: str
    gpus: int = 0
    # The prompt's worst case for the budget (>= prompt_tokens; 0: routed before it existed)
    prompt_tokens_max: int = 0
