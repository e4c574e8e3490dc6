"""Payload contracts shared by workflows, activities, workers, the CLI and the API.

Side-effect free: workflows import this module. Every model is frozen pydantic v2 and
travels through ``pydantic_data_converter``. These are durable contracts: a new field gets
a default; never rename or remove a field in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskKind = Literal["code", "math", "general"]
Phase = Literal["pii", "plan", "implement", "verify", "refine", "review", "done"]
Role = str  # "planner", "implementer", "critic", "judge", ... : free-form, routed by policy
TaskStatusName = Literal[
    "running", "succeeded", "unverified", "budget_exhausted", "cancelled", "failed", "rejected"
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


class MemoryUse(Frozen):
    """What memory gave a task: cited context, similar past tasks, a budget estimate."""

    citations: list[str] = []
    similar_tasks: list[str] = []
    estimated_tokens: int | None = None
    estimated_usd: float | None = None


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
    output_pii: list[str] = []  # PII types in the answer that the prompt did not hold
    confidence: float | None = None
    roles: list[RoleSummary] = []
    ledger: Ledger | None = None
    consensus: ConsensusSummary | None = None
    memory: MemoryUse | None = None


class TaskStatusView(Frozen):
    phase: str
    round: int
    status: TaskStatusName
    spend: Spend
    last_score: float | None = None
    pending_approval: ApprovalRequest | None = None


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
    # Structured output: a JSON schema the reply must follow, sent through each provider's
    # native feature (OpenAI json_schema, Anthropic tool input, Gemini response_schema,
    # vLLM guided decoding). None: free text.
    response_schema: dict[str, Any] | None = None
    schema_name: str = "reply"


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
    tenant: str = "default"  # whose PII policy applies


class RoutedProvider(Frozen):
    provider_id: str
    task_queue: str
    location: Location
    model: str
    context_window: int
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0


# ---------------------------------------------------------------- approvals and events

ApprovalStage = Literal["plan", "answer"]
ApprovalAction = Literal["approve", "reject", "comment"]


class ApprovalPolicy(Frozen):
    """When a task waits for a person (plan before Implement, answer before it is final)."""

    plan: bool = False
    answer: bool = False
    timeout_seconds: int = Field(default=3600, ge=1)
    # escalate: notify again (escalation) and wait one more timeout, then reject
    on_timeout: Literal["reject", "approve", "escalate"] = "reject"


class ApprovalRequest(Frozen):
    """What a waiting task asks approval for; bound to the sha256 of the exact content."""

    stage: ApprovalStage
    content_hash: str
    preview: str = ""
    deadline: datetime
    escalated: bool = False


class ApprovalDecision(Frozen):
    stage: ApprovalStage
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    action: ApprovalAction
    approver: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=4000)
    via: Literal["web", "slack", "api", "cli"] = "api"


class ApprovalOutcome(Frozen):
    stage: ApprovalStage
    action: ApprovalAction
    approver: str
    final: bool  # False for a comment: the task still waits


class ApprovalNotice(Frozen):
    """Input of the notification activity (Slack-style incoming webhook)."""

    task_id: str
    request: ApprovalRequest


TaskEventType = Literal["phase", "model_call", "verification", "approval", "status"]


class TaskEvent(Frozen):
    """One entry of a task's progress log (served as server-sent events by the API)."""

    seq: int
    type: TaskEventType
    at: datetime
    data: dict[str, Any] = {}


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
    consensus: ConsensusPolicy | None = None
    approval: ApprovalPolicy = ApprovalPolicy()
    memory_task_queue: str | None = None  # None: the task neither recalls nor writes back


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


PiiAction = Literal["redact", "block", "allow"]


class PiiScanRequest(Frozen):
    text: str
    task_id: str = ""
    tenant: str = "default"


class PiiScanResult(Frozen):
    redacted: str
    findings: list[PiiFinding] = []
    # placeholder -> original; stays inside the workflow (history is encrypted by the codec)
    mapping: dict[str, str] = {}
    # the tenant's policy, resolved by the scan: what cloud / local providers may see
    cloud_action: PiiAction = "redact"
    local_action: PiiAction = "allow"


class PiiReviewRequest(Frozen):
    """A final answer to check for PII that the user did not supply."""

    text: str
    mapping: dict[str, str] = {}  # the prompt's placeholder -> original


class PiiReviewResult(Frozen):
    text: str  # the answer, with new PII replaced when the policy says "redact"
    new_pii: list[str] = []  # entity types of PII the answer holds but the prompt did not


class PiiRestoreRequest(Frozen):
    text: str
    mapping: dict[str, str]


class PiiCalibrationRequest(Frozen):
    samples: int = Field(default=2000, ge=20, le=200_000)
    seed: int = 7
    output: str = ""  # where to write the calibration; "" = pii.calibration_file


class PiiEntityScore(Frozen):
    entity_type: str
    support: int
    precision: float
    recall: float
    f1: float


class PiiCalibrationReport(Frozen):
    """Thresholds chosen on the validation split; scores measured on the test split."""

    seed: int
    split: dict[str, int]  # train / validate / test sample counts
    entropy_high: float
    entropy_low: float
    thresholds: dict[str, float]  # detector -> minimum score
    test: list[PiiEntityScore]
    micro_f1: float
    written_to: str = ""


# ---------------------------------------------------------------- consensus, routing, ledger


class ConfidenceWeights(Frozen):
    """Weights of the confidence formula (docs/consensus.md); renormalised over the
    components a result has."""

    agreement: float = Field(default=0.2, ge=0)
    critics: float = Field(default=0.25, ge=0)
    judge: float = Field(default=0.35, ge=0)
    verification: float = Field(default=0.2, ge=0)


class ConsensusPolicy(Frozen):
    """A policy's ``consensus:`` section: which phases deliberate, and how."""

    phases: list[str] = ["implement"]
    proposers: int = Field(default=3, ge=1, le=16)
    self_consensus: bool = Field(
        default=False, description="sample the first proposer provider N times"
    )
    self_temperature: float = Field(default=0.9, ge=0, le=2)
    critics: int = Field(default=2, ge=0, le=16)
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    max_rounds: int = Field(default=2, ge=1, le=10)
    on_low_confidence: Literal["round", "human", "accept"] = "round"
    human_review_timeout_seconds: int = Field(default=3600, ge=1)
    call_attempts: int = Field(
        default=2, ge=1, le=10, description="attempts on one provider before its fallback"
    )
    weights: ConfidenceWeights = ConfidenceWeights()


class CallOutcome(Frozen):
    """What one routed call did, reported to the governor with the next routing decision."""

    provider_id: str
    ok: bool
    latency_ms: float = 0.0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str = ""


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


class Issue(Frozen):
    severity: Literal["low", "medium", "high", "critical"]
    description: str


class ProposalReview(Frozen):
    proposal: int = Field(ge=1, description="1-based number of the proposal reviewed")
    issues: list[Issue] = []
    scores: dict[str, float] = Field(description="criterion -> score in 0..1")


class Critique(Frozen):
    """A critic's structured review of every proposal."""

    reviews: list[ProposalReview]


class ConsensusRequest(Frozen):
    task_id: str
    policy: str
    phase: str
    kind: TaskKind = "general"
    task: str  # the task's prompt, as the proposers should see it
    messages: list[ChatMessage]  # the proposers' prompt
    consensus: ConsensusPolicy = ConsensusPolicy()
    pii_mapping: dict[str, str] = {}
    tokens_left: int = 200_000
    usd_left: float = 2.0
    max_output_tokens: int = 2048
    heartbeat_timeout_seconds: int = 30
    priority: int = 3
    # Code tasks: proposals are verified in the sandbox; identical passing outcomes agree.
    sandbox_task_queue: str = ""
    verify_timeout_seconds: int = 60
    tenant: str = "default"


class ConsensusSummary(Frozen):
    confidence: float
    components: dict[str, float] = {}
    rounds: int = 1
    early_exit: str = ""
    proposals: int = 0
    critiques: int = 0
    needs_human_review: bool = False
    human_decision: str = ""


class ConsensusResult(Frozen):
    answer: str
    verdict: JudgeVerdict | None = None
    summary: ConsensusSummary
    proposals: list[str] = []
    critiques: list[Critique] = []
    calls: list[ModelCall] = []


class HumanReview(Frozen):
    decision: Literal["accept", "reject"]
    note: str = ""


class LedgerLine(Frozen):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float = 0.0
    gpu_seconds: float = 0.0


class Ledger(Frozen):
    """Spend per task and per phase; reserved is what in-flight calls may still spend."""

    total: LedgerLine = LedgerLine()
    phases: dict[str, LedgerLine] = {}
    reserved_tokens: int = 0
    reserved_usd: float = 0.0


class RoleSummary(Frozen):
    role: str
    providers: list[str]
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float  # summed over the role's calls


TaskStatusView.model_rebuild()  # it refers to ApprovalRequest, defined further down


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
