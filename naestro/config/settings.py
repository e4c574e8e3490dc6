"""Naestro's own settings: ``temporal.yaml`` plus environment overrides.

The Temporal connection itself is not here: it follows the SDK's convention
(``temporalio.envconfig``: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS,
TOML profiles); see :mod:`naestro.connect`.

Environment overrides use ``NAESTRO__<SECTION>__<KEY>=value`` (double underscores nest;
values are parsed as YAML scalars), e.g. ``NAESTRO__SANDBOX__BACKEND=bwrap``.
Secrets are never read from the file: a provider names the variable holding its key
(``api_key_env``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from naestro.config.gateway import ApiConfig
from naestro.config.tools import ToolsConfig
from naestro.contracts import (
    ApprovalPolicy,
    Budget,
    ConsensusPolicy,
    Location,
    PiiAction,
    RefineMode,
    Review,
    SandboxLimits,
    SubtaskPolicy,
)
from naestro.errors import ConfigError

CONFIG_ENV = "NAESTRO_CONFIG"
OVERRIDE_PREFIX = "NAESTRO__"

Engine = Literal[
    "openai",
    "vllm",
    "nim",
    "tensorrt-llm",
    "xai",
    "ollama",
    "llamacpp",
    "openai-compatible",
    "anthropic",
    "google",
    "replay",
]
CLOUD_ENGINES = frozenset({"openai", "anthropic", "google", "xai"})
_PROTOCOL = {"anthropic": "anthropic", "google": "google", "replay": "replay"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(Strict):
    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)


class ProviderConfig(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    engine: Engine
    model: str
    endpoint: str | None = None
    context_window: int = Field(default=128_000, ge=1)
    roles: list[str] = []
    price: Price = Price()
    max_concurrency: int = Field(default=8, ge=1)
    task_queue: str | None = None
    location: Location | None = None
    api_key_env: str | None = None
    timeout_seconds: float = Field(default=300.0, gt=0)
    script: str | None = Field(default=None, description="replay engine: JSONL of replies")
    simulated_latency_ms: float = Field(default=0.0, ge=0, description="replay engine only")
    record: str | None = Field(
        default=None, description="replay engine: append every request received to this JSONL"
    )
    gpus: int = Field(default=0, ge=0, description="GPUs a local engine holds: GPU-seconds")
    latency_limit_ms: float | None = Field(
        default=None, gt=0, description="route around it while its recent p95 is above this"
    )

    @property
    def protocol(self) -> Literal["openai", "anthropic", "google", "replay"]:
        return _PROTOCOL.get(self.engine, "openai")  # type: ignore[return-value]

    @property
    def where(self) -> Location:
        if self.location is not None:
            return self.location
        return "cloud" if self.engine in CLOUD_ENGINES else "local"

    @property
    def queue(self) -> str:
        if self.task_queue:
            return self.task_queue
        return "naestro.models.cloud" if self.where == "cloud" else f"naestro.models.{self.id}"

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class PolicyConfig(Strict):
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="role -> provider ids, first preferred"
    )
    judge_threshold: float = Field(default=0.7, ge=0, le=1)
    min_improvement: float = Field(default=0.25, ge=0, description="refine gate: relative gain")
    max_output_tokens: int = Field(default=2048, ge=1)
    verify_timeout_seconds: int = Field(default=60, ge=1)
    heartbeat_timeout_seconds: int = Field(
        default=30, ge=1, description="a model call silent this long is retried elsewhere"
    )
    stream: bool = Field(
        default=True, description="stream replies (heartbeat per chunk, live tokens)"
    )
    live_tokens_ms: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="a streamed reply's tokens reach watchers (SSE, the web page, streaming "
        "clients) in batches this many ms apart; the first at once (0: no live tokens)",
    )
    consensus: ConsensusPolicy | None = None
    routing: RoutingConfig = Field(default_factory=lambda: RoutingConfig())
    approval: ApprovalPolicy = ApprovalPolicy()
    memory: bool = Field(default=True, description="use memory when memory.enabled is set")
    plan: bool = Field(default=True, description="ask the planner first (off: implement at once)")
    write_tests: bool = Field(
        default=True,
        description="ask for pytest tests with code (off: the task's own examples verify it)",
    )
    review: Review = Field(
        default="always",
        description="always ask the judge, or only about answers no passing test verified",
    )
    temperature: float = Field(
        default=0.2, ge=0, le=2, description="sampling temperature of the task's own calls"
    )
    refine: RefineMode = Field(
        default="revise",
        description="a refine round revises the answer with its feedback, or (resample) "
        "draws a fresh implementation at resample_temperature; the best answer is kept",
    )
    resample_temperature: float = Field(default=0.8, ge=0, le=2)
    subtasks: SubtaskPolicy = Field(
        default_factory=lambda: SubtaskPolicy(),
        description="a structured plan whose subtasks run as child tasks (docs/subtasks.md)",
    )
    tools: list[str] = Field(
        default=[],
        description="tools its implement and refine calls may use: server.tool, server.*, "
        "sandbox.run_python, memory.search (docs/tools.md); empty: none",
    )

    @model_validator(mode="after")
    def _attempts_moved(self) -> PolicyConfig:
        """consensus.call_attempts (before routing owned it) still sets routing's."""
        c = self.consensus
        if c is None or "call_attempts" not in c.model_fields_set:
            return self
        if "call_attempts" in self.routing.model_fields_set:
            return self
        routing = self.routing.model_copy(update={"call_attempts": c.call_attempts})
        # A validator must return self (pydantic ignores another model from __init__): set
        # the field on this frozen model while it is still being built.
        object.__setattr__(self, "routing", routing)
        return self


class RoutingConfig(Strict):
    """Per-call routing of a policy (docs/routing.md)."""

    slm_share: float = Field(default=0.0, ge=0, le=1, description="share of eligible calls")
    slm_phases: list[str] = ["implement", "refine", "verify"]
    slm_max_prompt_tokens: int = Field(default=8000, ge=1)
    slm_role: str = "slm"
    long_context_role: str = "long_context"
    allow_cloud_fallback: bool = True
    allow_local_fallback: bool = True
    call_attempts: int = Field(
        default=2, ge=1, le=10, description="attempts on one provider before its fallback"
    )


class GovernorConfig(Strict):
    """Live provider health: EMAs, circuit breakers, latency fallback."""

    dry_run: bool = Field(default=False, description="log what it would change, change nothing")
    ema_alpha: float = Field(default=0.2, gt=0, le=1)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_window_seconds: float = Field(default=60.0, gt=0)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    latency_window: int = Field(default=50, ge=1, description="recent calls behind the p95")
    min_latency_samples: int = Field(default=5, ge=1)


# A model worker's live-token batches a second, all its streamed calls together
# (activities/models/tokens.py LivePace).
LIVE_TOKEN_BATCHES_PER_S = 20.0


class QueueConfig(Strict):
    orchestrator: str = "naestro.orchestrator"
    models_cloud: str = "naestro.models.cloud"
    sandbox: str = "naestro.sandbox"
    memory: str = "naestro.memory"
    models_cloud_concurrency: int = Field(default=64, ge=1)
    sandbox_concurrency: int = Field(default=8, ge=1)
    memory_concurrency: int = Field(default=16, ge=1)
    tools: str = "naestro.tools"  # MCP tool calls and discovery (polled when tools.servers)
    tools_concurrency: int = Field(default=16, ge=1)
    live_token_batches_per_s: float = Field(
        default=LIVE_TOKEN_BATCHES_PER_S,
        gt=0,
        allow_inf_nan=False,
        description="live-token batches a model worker process sends a second in all, shared "
        "by its streamed calls: each batch is a signal and a workflow task, so a busy worker "
        "sends fewer, larger ones (its short calls' replies arrive whole)",
    )


class SandboxConfig(Strict):
    backend: Literal["auto", "bwrap", "docker"] = "auto"
    user: str = Field(default="nobody", description="unprivileged user the sandbox runs as")
    limits: SandboxLimits = SandboxLimits()
    # Docker backend (auto picks it when the engine answers): the locally built image
    # (infra/sandbox/build.sh), the engine (None: DOCKER_HOST or the local socket), and how
    # many started containers wait for runs with the default limits.
    image: str = "naestro-sandbox:current"
    docker_host: str | None = None
    pool_size: int = Field(default=8, ge=0)
    cache_entries: int = Field(default=1024, ge=0, description="test cache size; 0: off")
    # Workspaces (VerifyRequest.workspace): a directory of wheels (and sdists) their
    # dependencies are installed from, with no network (None: a workspace that needs one
    # gets a report naming them), and caps on an unpacked archive.
    wheel_cache: str | None = Field(default=None, description="dir of wheels; None: none")
    workspace_max_mb: int = Field(default=256, ge=1, description="unpacked workspace size cap")
    workspace_max_files: int = Field(default=20_000, ge=1)


class TenantPiiPolicy(Strict):
    """What one tenant's providers may see: block the call, redact PII, or allow raw text."""

    cloud: PiiAction = "redact"
    local: PiiAction = "allow"


class PiiConfig(Strict):
    enabled: bool = True
    cloud: PiiAction = "redact"
    local: PiiAction = "allow"
    entropy_high: float = 4.5
    entropy_low: float = 2.5
    tenants: dict[str, TenantPiiPolicy] = Field(
        default_factory=dict, description="tenant -> policy; others get cloud/local above"
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="detector -> minimum score; wins over calibration"
    )
    calibration_file: str = Field(
        default="", description="calibrated thresholds; '' = none (temporal.yaml sets one)"
    )
    calibration_samples: int = Field(default=2000, ge=20)
    calibration_schedule: str = Field(default="0 3 * * 0", description="cron, UTC")
    review_output: Literal["flag", "redact", "off"] = "flag"

    def policy_for(self, tenant: str) -> TenantPiiPolicy:
        return self.tenants.get(tenant) or TenantPiiPolicy(cloud=self.cloud, local=self.local)


class EmbedderConfig(Strict):
    kind: Literal["local", "openai"] = Field(
        default="local", description="local: all-MiniLM-L6-v2 (offline); openai: /v1/embeddings"
    )
    endpoint: str | None = Field(default=None, description="openai: base URL ending in /v1")
    model: str = "all-MiniLM-L6-v2"
    api_key_env: str | None = None
    batch_size: int = Field(default=32, ge=1, le=2048)
    timeout_seconds: float = Field(default=60.0, gt=0)


class MemoryConfig(Strict):
    database_url_env: str = "DATABASE_URL"
    enabled: bool = Field(default=False, description="retrieve before Plan, write back after")
    dim: int = Field(default=384, ge=1, le=16000, description="the schema's embedding width")
    text_config: str = Field(default="english", pattern=r"^[a-z_]+$", description="FTS config")
    bm25_k1: float = Field(default=1.2, ge=0)
    bm25_b: float = Field(default=0.75, ge=0, le=1)
    bm25_max_depth: int = Field(
        default=8192,
        ge=64,
        le=1_048_576,
        description="postings a BM25 search reads at most for its rarest term; past it the "
        "answer is the best found (deeper: closer to exact, slower)",
    )
    fusion: Literal["rrf", "weighted"] = Field(
        default="weighted", description="weighted: convex blend of min-max scores; rrf: ranks"
    )
    rrf_k: int = Field(default=60, ge=1)
    vector_weight: float = Field(default=0.5, ge=0, le=1, description="weighted fusion only")
    candidates: int = Field(default=50, ge=1, le=1000, description="top-k of each leg")
    feedback_boost: float = Field(default=0.1, ge=0, description="per approved use")
    feedback_boost_cap: float = Field(default=0.3, ge=0)
    verified_boost: float = Field(default=0.2, ge=0, description="verified answers rank first")
    rerank_endpoint: str | None = Field(default=None, description="optional /v1/rerank base URL")
    rerank_model: str = ""
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    hnsw_ef_search: int = Field(default=200, ge=1, le=1000)
    hnsw_build_cap_seconds: float = Field(default=1800.0, gt=0, description="then ivfflat")
    ivfflat_probes: int = Field(default=10, ge=1)
    partitions_ahead: int = Field(default=3, ge=0, le=120, description="months created ahead")
    chunk_chars: int = Field(default=1500, ge=100)
    context_chunks: int = Field(default=5, ge=0, le=50, description="cited in the plan prompt")
    similar_tasks: int = Field(default=3, ge=0, le=50)
    context_min_similarity: float = Field(
        default=0.3,
        ge=-1,
        le=1,
        description="cosine: retrieved chunks less related to the prompt stay out of the plan",
    )
    similar_min_similarity: float = Field(
        default=0.6, ge=-1, le=1, description="cosine: past tasks less similar are not recalled"
    )
    write_back_scripted: bool = Field(
        default=False,
        description="keep tasks whose replies were scripted (tests of memory itself); "
        "never in use: scripted outputs are not past work",
    )
    embedder: EmbedderConfig = EmbedderConfig()


class PayloadsConfig(Strict):
    """Payloads that travel by reference (naestro/payload_store.py, docs/operations.md):
    from the threshold up, a payload's (encrypted) bytes go to Postgres and its history
    event holds a small reference, so nothing nears Temporal's 2 MB payload limit."""

    external_threshold_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        le=2 * 1024 * 1024,
        description="payloads this size or larger are stored in Postgres, by reference",
    )
    database_url_env: str = Field(
        default="DATABASE_URL",
        description="the Postgres that keeps them (unset in a process: payloads stay inline)",
    )


class TelemetryConfig(Strict):
    """Metrics and traces (docs/telemetry.md). Traces follow the standard OTEL_* variables
    (OTEL_EXPORTER_OTLP_ENDPOINT turns them on)."""

    metrics_address: str | None = Field(
        default=None,
        description="HOST:PORT where a worker process serves /metrics (None: not served); "
        "the API serves /metrics on its own port",
    )


class DeployConfig(Strict):
    """Worker Versioning and rollouts (docs/deploys.md). A worker that runs workflows always
    joins the Worker Deployment ``name`` as version ``build_id`` (its workflow types declare
    a versioning behaviour, which the server takes from versioned workers only). Tasks stay
    pinned to the version they started on; new tasks go to the deployment's current version
    (or the candidate's share during a canary); `naestro rollout` moves between them."""

    name: str = Field(
        default="naestro",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the Worker Deployment (no dots: Temporal joins name.build_id)",
    )
    build_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$",
        max_length=200,
        description="this worker's version (None: package version, workflow generation and a "
        "digest of the workflow code; workers/versioning.py)",
    )
    make_current: Literal["if-none", "always", "never"] = Field(
        default="if-none",
        description="on start: if-none makes this version current when the deployment has "
        "none (a first deploy); always (naestro dev) whatever it has; never waits for "
        "`naestro rollout`",
    )
    canary_percent: float = Field(default=10.0, gt=0, le=100, description="rollout start")
    shadow_percent: float = Field(default=3.0, gt=0, le=100, description="rollout start --shadow")
    gate_interval_seconds: float = Field(
        default=60.0, gt=0, description="how often the rollout gate measures both versions"
    )


class GpuConfig(Strict):
    """This node's GPUs (docs/gpus.md): telemetry, call admission and the lease pool."""

    pool: str = Field(
        default="local",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="this node's GPU pool: engines with this pool are placed on its GPUs, and "
        "its leases are kept by the coordinator workflow naestro-gpu-pool-<pool>",
    )
    nvml: str = Field(
        default="auto",
        description="auto: NVML when the driver's library loads, else no GPUs; none; or "
        "fake:<path> (a JSON list of devices: tests, demos)",
    )
    sample_seconds: float = Field(default=2.0, gt=0, description="telemetry period")
    admit_memory_fraction: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="an engine's worker takes no more calls while a GPU of its would pass this "
        "share of memory (its in-flight calls' call_memory_mib counted)",
    )
    unhealthy_memory_fraction: float = Field(
        default=0.99, gt=0, le=1, description="routing skips an engine whose GPU is this full"
    )
    critical_xids: list[int] = Field(
        default=[13, 31, 43, 45, 48, 61, 62, 63, 64, 68, 69, 74, 79, 92, 94, 95, 119, 120],
        description="XID events that make routing skip an engine on that GPU",
    )
    lease_ttl_seconds: float = Field(
        default=30.0, gt=0, description="a lease its holder stops renewing ends this long after"
    )
    preempt_grace_seconds: float = Field(
        default=120.0,
        gt=0,
        description="how long a preempted holder has to checkpoint and yield before revocation",
    )
    engine_lease_priority: int = Field(
        default=2,
        ge=0,
        le=5,
        description="while a GPU engine's worker has calls in flight it holds a lease on the "
        "engine's GPUs at this priority, never preempted: GPU jobs of lower priority there "
        "yield; 0: engines take no lease",
    )
    engine_idle_seconds: float = Field(
        default=30.0, gt=0, description="an engine's lease is given back after this long idle"
    )
    jobs_concurrency: int = Field(
        default=0,
        ge=0,
        description="GPU jobs (naestro gpus run) this node's worker runs at once on the "
        "naestro.gpu.<pool> queue; 0: it takes none",
    )

    @property
    def coordinator_id(self) -> str:
        return pool_workflow_id(self.pool)

    @property
    def jobs_queue(self) -> str:
        return f"naestro.gpu.{self.pool}"


def pool_workflow_id(pool: str) -> str:
    return f"naestro-gpu-pool-{pool}"


# A GPU an engine is placed on: an index (0), a GPU's UUID (GPU-...), a MIG instance's UUID
# (MIG-...), or a MIG profile that placement fills with a free instance of it, on any GPU
# (1g.10gb) or on one (0:1g.10gb).
GpuRef = int | str
_MIG_PROFILE = re.compile(r"^(?:(\d+):)?(\d+g\.\d+gb(?:\+[a-z]+)?)$")


def parse_gpu_ref(ref: GpuRef) -> tuple[str, int | None, str]:
    """(kind, gpu index or None, value): ("index", 0, "0"), ("uuid", None, "GPU-..."),
    ("mig", None, "MIG-..."), ("profile", 0 or None, "1g.10gb")."""
    if isinstance(ref, int):
        return ("index", ref, str(ref))
    text = ref.strip()
    if text.isdigit():
        return ("index", int(text), text)
    if text.startswith("GPU-"):
        return ("uuid", None, text)
    if text.startswith("MIG-"):
        return ("mig", None, text)
    match = _MIG_PROFILE.match(text)
    if match:
        index = int(match.group(1)) if match.group(1) is not None else None
        return ("profile", index, match.group(2))
    raise ValueError(
        f"{ref!r} is not a GPU: use an index (0), a GPU-/MIG- UUID, or a MIG profile "
        "(1g.10gb, or 0:1g.10gb for one on GPU 0)"
    )


class DevConfig(Strict):
    data_dir: str = ".naestro"
    temporal_port: int = 7233
    ui_port: int = 8233
    namespace: str = "default"


class EngineConfig(Strict):
    """A local engine the worker starts and watches (workers/engines/): llama.cpp on CPU,
    `vllm serve` on a GPU set, NIM or TensorRT-LLM as a command or a container."""

    id: str = Field(description="the provider it serves (providers[].id)")
    kind: Literal["llamacpp", "vllm", "nim", "tensorrt-llm", "command"] = "llamacpp"
    model: str = Field(
        description="llamacpp: a GGUF path or bundled:<name>; vllm: a model id or path; "
        "others: informational (the command names its model)"
    )
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    gpus: list[GpuRef] = Field(
        default=[],
        description="its GPUs: indices, GPU-/MIG- UUIDs or MIG profiles (1g.10gb, 0:1g.10gb); "
        "placement hands them to the engine as CUDA_VISIBLE_DEVICES",
    )
    pool: str | None = Field(
        default=None, description="the GPU pool (node) it runs on (None: gpu.pool)"
    )
    call_memory_mib: float = Field(
        default=0.0,
        ge=0,
        description="GPU memory one in-flight call adds (KV cache): admission counts it before "
        "the next telemetry sample shows it",
    )
    command: list[str] | None = Field(
        default=None, description="the whole command (kind command, nim, tensorrt-llm)"
    )
    args: list[str] = Field(default=[], description="extra arguments for the server")
    env: dict[str, str] = {}
    context_size: int = Field(default=8192, ge=256, description="llamacpp: --n_ctx")
    threads: int | None = Field(default=None, ge=1, description="llamacpp: --n_threads")
    ready_timeout_seconds: float = Field(default=900.0, gt=0)
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    max_restart_backoff_seconds: float = Field(default=60.0, gt=0)
    drain_seconds: float = Field(default=30.0, ge=0, description="in-flight calls on stop")
    autostart: Literal["always", "fallback"] = Field(
        default="always",
        description="fallback: `naestro dev` / `naestro demo` start it (and route the default "
        "policy to it) only when the default policy has no usable provider",
    )
    fallback_policy: str | None = Field(
        default=None, description="the policy that routes to it when it stands in for default"
    )

    @model_validator(mode="after")
    def _check_gpus(self) -> EngineConfig:
        parsed = []
        for ref in self.gpus:
            try:
                parsed.append(parse_gpu_ref(ref))
            except ValueError as exc:
                raise ValueError(f"engines.{self.id}.gpus: {exc}") from None
        if sum(1 for kind, _, _ in parsed if kind in ("mig", "profile")) > 1:
            raise ValueError(
                f"engines.{self.id}.gpus: one MIG instance per engine (CUDA uses only the "
                "first MIG device a process is given)"
            )
        if len(parsed) > 1 and any(kind in ("mig", "profile") for kind, _, _ in parsed):
            raise ValueError(f"engines.{self.id}.gpus: a MIG instance cannot join other GPUs")
        return self

    def pool_of(self, gpu: GpuConfig) -> str:
        return self.pool or gpu.pool


class Settings(Strict):
    providers: list[ProviderConfig] = []
    policies: dict[str, PolicyConfig] = {"default": PolicyConfig()}
    budget: Budget = Budget()
    queues: QueueConfig = QueueConfig()
    sandbox: SandboxConfig = SandboxConfig()
    pii: PiiConfig = PiiConfig()
    memory: MemoryConfig = MemoryConfig()
    dev: DevConfig = DevConfig()
    governor: GovernorConfig = GovernorConfig()
    api: ApiConfig = ApiConfig()
    engines: list[EngineConfig] = []
    telemetry: TelemetryConfig = TelemetryConfig()
    payloads: PayloadsConfig = PayloadsConfig()
    deploy: DeployConfig = DeployConfig()
    gpu: GpuConfig = GpuConfig()
    tools: ToolsConfig = ToolsConfig()
    source: str = Field(default="<defaults>", exclude=True)

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        ids = [p.id for p in self.providers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"providers: duplicate id(s) {', '.join(dupes)}")
        known = set(ids)
        for name, policy in self.policies.items():
            for role, wanted in policy.roles.items():
                for pid in wanted:
                    if pid not in known:
                        raise ValueError(f"policies.{name}.roles.{role}: unknown provider {pid!r}")
        for engine in self.engines:
            if engine.id not in known:
                raise ValueError(f"engines: {engine.id!r} names no provider")
        _check_gpu_claims(self.engines, self.gpu)
        for name, policy in self.policies.items():
            self.tools.check_allow_list(f"policies.{name}.tools", policy.tools)
        return self._count_engine_gpus()

    def _count_engine_gpus(self) -> Settings:
        """A provider's GPU count (GPU-second accounting) is its engine's GPU set's size; one
        given in providers: must agree with it."""
        for i, p in enumerate(self.providers):
            engine = self.engine(p.id)
            placed = len(engine.gpus) if engine is not None else 0
            if placed and p.gpus and p.gpus != placed:
                raise ValueError(
                    f"providers.{p.id}.gpus: {p.gpus}, but engines.{p.id}.gpus places it on "
                    f"{placed} GPU(s); give the count in one place"
                )
            if placed:  # the list is ours (validated), its models frozen: swap the entry
                self.providers[i] = p.model_copy(update={"gpus": placed})
        return self

    def policy_refusal(self, asked: str) -> str | None:
        """Why a task's policy name is refused, or None: the one rule the API (422) and
        `naestro run` apply before a task starts (the workflow fails on an unknown one)."""
        if policy_for(asked) in self.policies:
            return None
        known = ", ".join([AUTO_POLICY, *sorted(self.policies)])
        return f"unknown policy {asked!r} (known: {known})"

    def engine(self, provider_id: str) -> EngineConfig | None:
        """The supervised engine behind a provider, if the worker starts one."""
        return next((e for e in self.engines if e.id == provider_id), None)

    def provider(self, provider_id: str) -> ProviderConfig:
        for p in self.providers:
            if p.id == provider_id:
                return p
        raise KeyError(provider_id)


def _check_gpu_claims(engines: list[EngineConfig], gpu: GpuConfig) -> None:
    """Two engines of one pool never claim the same GPU or MIG instance, nor one a whole GPU
    and the other a MIG instance on it. Placement checks the rest against NVML (which GPU a
    UUID is, which MIG instances exist)."""
    exact: dict[tuple[str, str], str] = {}  # (pool, ref) -> engine
    whole: dict[tuple[str, int], str] = {}  # (pool, index) -> engine claiming all of it
    sliced: dict[tuple[str, int], str] = {}  # (pool, index) -> engine claiming a MIG on it
    for engine in engines:
        pool = engine.pool_of(gpu)
        for ref in engine.gpus:
            kind, index, value = parse_gpu_ref(ref)
            if kind != "profile":
                first = exact.setdefault((pool, value), engine.id)
                if first != engine.id:
                    raise ValueError(
                        f"engines.{engine.id}.gpus and engines.{first}.gpus both claim GPU "
                        f"{value} (pool {pool})"
                    )
            if index is None:
                continue
            mine, theirs = (whole, sliced) if kind == "index" else (sliced, whole)
            mine.setdefault((pool, index), engine.id)
            other = theirs.get((pool, index), engine.id)
            if other != engine.id:
                full, mig = (engine.id, other) if kind == "index" else (other, engine.id)
                raise ValueError(
                    f"engines.{full}.gpus claims all of GPU {index}, and engines.{mig}.gpus a "
                    f"MIG instance on it (pool {pool})"
                )


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment override {'.'.join(path)}: {key} is not a section")
        node = child
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name, raw in sorted(environ.items()):
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        path = [p.lower() for p in name[len(OVERRIDE_PREFIX) :].split("__") if p]
        if path:
            _set_path(data, path, yaml.safe_load(raw) if raw else raw)
    return data


def _format_validation(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            hint = (
                " (secrets come from the environment: use api_key_env)"
                if key.endswith("api_key")
                else ""
            )
            lines.append(f"{source}: unknown key {key!r}{hint}")
        else:
            lines.append(f"{source}: {key}: {e['msg']}")
    return "; ".join(lines)


AUTO_POLICY = "auto"  # a task's policy when it names none: the "default" one


def policy_for(asked: str) -> str:
    """The policy a task runs under when it asks for ``asked``."""
    return "default" if asked == AUTO_POLICY else asked


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV, "temporal.yaml"))


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load temporal.yaml (or NAESTRO_CONFIG) with environment overrides applied. A file
    named by ``path`` or NAESTRO_CONFIG must exist; only a missing ./temporal.yaml means
    the defaults."""
    env = os.environ if environ is None else environ
    file = Path(path) if path is not None else default_config_path()
    data: dict[str, Any] = {}
    if file.exists():
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping")
        data = loaded
    elif path is not None:
        raise ConfigError(f"{file}: no such config file")
    elif os.environ.get(CONFIG_ENV):  # named, so meant: defaults would hide the mistake
        raise ConfigError(f"{file}: no such config file (named by {CONFIG_ENV})")
    data = apply_overrides(data, env)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, str(file))) from None
    return settings.model_copy(update={"source": str(file)})
