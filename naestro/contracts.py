"""Payload contracts shared by workflows, activities, workers, the CLI and the API.

Side-effect free: workflows import this module. Every model is frozen pydantic v2 and
travels through ``pydantic_data_converter``. These are durable contracts: a new field gets
a default; never rename or remove a field in place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskKind = Literal["code", "math", "general"]
Phase = Literal["pii", "plan", "implement", "verify", "refine", "review", "done"]
Role = str  # "planner", "implementer", "critic", "judge", ... : free-form, routed by policy
TaskStatusName = Literal[
    "running", "succeeded", "unverified", "budget_exhausted", "cancelled", "failed"
]
Location = Literal["local", "cloud"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- task input / output


class Budget(Frozen):
    max_tokens: int = Field(default=200_000, ge=1, description="input + output tokens")
    max_usd: float = Field(default=2.0, ge=0.0)
    max_wall_seconds: int = Field(default=1800, ge=1)
    max_refine_rounds: int = Field(default=3, ge=0, le=50)


class TaskRequest(Frozen):
    prompt: str = Field(min_length=1, max_length=400_000)
    kind: TaskKind = "general"
    priority: int = Field(default=3, ge=1, le=5, description="1 highest .. 5 lowest")
    budget: Budget = Budget()
    policy: str = Field(default="default", min_length=1, max_length=100)
    tenant: str = Field(default="default", min_length=1, max_length=100)


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


class Spend(Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    model_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, call: ModelCall) -> Spend:
        return Spend(
            input_tokens=self.input_tokens + call.input_tokens,
            output_tokens=self.output_tokens + call.output_tokens,
            usd=self.usd + call.cost_usd,
            model_calls=self.model_calls + 1,
        )


class Artifact(Frozen):
    name: str
    kind: Literal["code", "tests", "text"] = "text"
    content: str


class TestCaseResult(Frozen):
    name: str
    outcome: Literal["passed", "failed", "error", "skipped"]
    message: str = ""


class LintFinding(Frozen):
    code: str
    message: str
    path: str = ""
    line: int = 0


class LintReport(Frozen):
    passed: bool
    exit_code: int | None
    findings: list[LintFinding] = []
    summary: str = ""


class ResourceUse(Frozen):
    """What the command used, as the in-sandbox runner measured it (its waited-for children
    included): peak resident set and CPU time."""

    max_rss_kb: int = 0
    cpu_seconds: float = 0.0


class VerificationReport(Frozen):
    backend: str
    passed: bool
    exit_code: int | None
    timed_out: bool = False
    duration_ms: float = 0.0
    tests: list[TestCaseResult] = []
    output: str = ""
    output_truncated: bool = False
    summary: str = ""
    lint: LintReport | None = None  # ruff's findings when the request asked for lint
    resources: ResourceUse | None = None
    cached: bool = False  # an identical earlier run's report, from the test cache
    cache_key: str = ""  # sha256 of code + tests + command + limits + sandbox image

    @property
    def failed_tests(self) -> list[TestCaseResult]:
        return [t for t in self.tests if t.outcome in ("failed", "error")]


class JudgeVerdict(Frozen):
    verdict: Literal["accept", "revise", "reject"]
    score: float = Field(ge=0.0, le=1.0)
    rationale: str = ""


class TaskResult(Frozen):
    task_id: str
    status: TaskStatusName
    answer: str = ""
    plan: str = ""
    artifacts: list[Artifact] = []
    verification: VerificationReport | None = None
    verdict: JudgeVerdict | None = None
    rounds: int = 0
    spend: Spend = Spend()
    trace: list[ModelCall] = []
    reason: str = ""
    scripted: bool = False


class TaskStatusView(Frozen):
    phase: str
    round: int
    status: TaskStatusName
    spend: Spend
    last_score: float | None = None


class CancelRequest(Frozen):
    reason: str = "cancelled by user"


# ---------------------------------------------------------------- model activities


class ChatMessage(Frozen):
    role: Literal["system", "user", "assistant"]
    content: str


class ModelRequest(Frozen):
    provider_id: str
    role: str
    phase: str
    messages: list[ChatMessage]
    max_output_tokens: int = Field(default=2048, ge=1)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    stream: bool = False
    task_id: str = ""


class ModelResponse(Frozen):
    provider_id: str
    model: str
    text: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    finish_reason: str = ""
    scripted: bool = False


class RouteRequest(Frozen):
    policy: str
    roles: list[str]
    prompt_tokens: int = 0
    contains_pii: bool = False


class RoutedProvider(Frozen):
    provider_id: str
    task_queue: str
    location: Location
    model: str
    context_window: int
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0


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


# ---------------------------------------------------------------- sandbox


class SandboxFile(Frozen):
    path: str = Field(min_length=1, max_length=255)
    content: str


class SandboxLimits(Frozen):
    cpu_seconds: int = Field(default=30, ge=1)
    memory_mb: int = Field(default=512, ge=16)
    processes: int = Field(default=64, ge=1)
    wall_seconds: float = Field(default=60.0, gt=0)
    output_bytes: int = Field(default=64_000, ge=1024)
    file_size_mb: int = Field(default=64, ge=1)


class VerifyRequest(Frozen):
    files: list[SandboxFile]
    framework: Literal["pytest", "unittest", "script"] = "pytest"
    command: list[str] | None = None  # overrides the framework's default command
    limits: SandboxLimits = SandboxLimits()
    lint: bool = False  # also run ruff over the files, in parallel with the tests
    use_cache: bool = True  # answer an identical earlier run from the test cache
    # None: the worker's configured backend; else this one ("auto": Docker when it answers)
    backend: Literal["auto", "bwrap", "docker"] | None = None


class VerifyJob(Frozen):
    """VerifyWorkflow's input: one request for the sandbox queue (``naestro eval``)."""

    request: VerifyRequest
    sandbox_task_queue: str = "naestro.sandbox"


# ---------------------------------------------------------------- PII


class PiiFinding(Frozen):
    entity_type: str
    start: int
    end: int
    score: float
    detector: str


class PiiScanRequest(Frozen):
    text: str
    task_id: str = ""


class PiiScanResult(Frozen):
    redacted: str
    findings: list[PiiFinding] = []
    # placeholder -> original; stays inside the workflow (encrypted by the codec, later)
    mapping: dict[str, str] = {}


class PiiRestoreRequest(Frozen):
    text: str
    mapping: dict[str, str]


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
