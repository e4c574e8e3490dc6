"""Every metric Naestro exports, by the name Prometheus sees: the one list that the code,
the dashboards (infra/grafana/) and the alert rules (infra/prometheus/) agree on.

Labels are low-cardinality by rule: no task, workflow or request ids, no prompt text. The
Temporal SDK's own metrics (``temporal_*``: workflow/activity task latencies, slots,
schedule-to-start, request failures) come on the same endpoint; see docs/telemetry.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "histogram", "gauge"]
# Seconds buckets for model calls (CPU engines take minutes), phases and tasks.
LONG_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Seconds buckets for API requests and sandbox runs.
SHORT_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class Metric:
    name: str  # as exported (counters end in _total)
    kind: Kind
    labels: tuple[str, ...]
    help: str
    unit: str = ""
    # "workflow": recorded by workflow code through workflow.metric_meter() (replay-safe,
    # exported by the Temporal runtime, which adds namespace, task_queue and workflow_type
    # labels); "process": recorded by activities, the API and workers (prometheus_client);
    # "scrape": read from live state when scraped (the routing governor).
    source: Literal["workflow", "process", "scrape"] = "process"
    buckets: tuple[float, ...] = LONG_SECONDS


TASKS_STARTED = Metric(
    "naestro_tasks_started_total",
    "counter",
    ("kind", "policy"),
    "tasks started",
    source="workflow",
)
TASKS_FINISHED = Metric(
    "naestro_tasks_total",
    "counter",
    ("kind", "policy", "status"),
    "tasks finished, by final status (succeeded, unverified, budget_exhausted, ...)",
    source="workflow",
)
TASK_SECONDS = Metric(
    "naestro_task_duration_seconds",
    "histogram",
    ("kind", "policy", "status"),
    "a task's wall time, start to result",
    "s",
    source="workflow",
)
PHASE_SECONDS = Metric(
    "naestro_phase_duration_seconds",
    "histogram",
    ("kind", "phase"),
    "time a task spent in one phase (plan, implement, verify, refine, review, approve, ...)",
    "s",
    source="workflow",
)
BUDGET_EXHAUSTED = Metric(
    "naestro_budget_exhausted_total",
    "counter",
    ("kind", "policy"),
    "tasks stopped by their token, USD or GPU-second budget",
    source="workflow",
)
APPROVAL_WAIT = Metric(
    "naestro_approval_wait_seconds",
    "histogram",
    ("stage", "outcome"),
    "time a task waited for a person's approval decision",
    "s",
    source="workflow",
)
MODEL_CALLS = Metric(
    "naestro_model_calls_total",
    "counter",
    ("provider", "role", "outcome"),
    "model calls by outcome (ok, error, timeout, rejected)",
)
MODEL_CALL_SECONDS = Metric(
    "naestro_model_call_duration_seconds",
    "histogram",
    ("provider", "role"),
    "one model call's latency, request to last token",
    "s",
)
MODEL_TOKENS = Metric(
    "naestro_model_tokens_total",
    "counter",
    ("provider", "tenant", "direction"),
    "tokens sent (input) and generated (output)",
)
MODEL_COST = Metric(
    "naestro_model_cost_usd_total", "counter", ("provider", "tenant"), "USD spent on calls"
)
MODEL_GPU_SECONDS = Metric(
    "naestro_model_gpu_seconds_total",
    "counter",
    ("provider",),
    "GPU-seconds of local engines' calls (latency × the provider's GPUs)",
)
BREAKER_OPEN = Metric(
    "naestro_breaker_open",
    "gauge",
    ("provider",),
    "1 while a provider's circuit breaker is open (calls skip it), else 0",
    source="scrape",
)
GOVERNOR_LATENCY = Metric(
    "naestro_governor_latency_ema_seconds",
    "gauge",
    ("provider",),
    "the governor's moving average of a provider's call latency",
    "s",
    source="scrape",
)
GOVERNOR_ERRORS = Metric(
    "naestro_governor_error_rate",
    "gauge",
    ("provider",),
    "the governor's moving average of a provider's error rate (0..1)",
    source="scrape",
)
SANDBOX_RUNS = Metric(
    "naestro_sandbox_runs_total",
    "counter",
    ("backend", "outcome"),
    "sandboxed verification runs (passed, failed, error, timeout)",
)
SANDBOX_SECONDS = Metric(
    "naestro_sandbox_run_duration_seconds",
    "histogram",
    ("backend",),
    "one sandboxed run's wall time",
    "s",
    buckets=SHORT_SECONDS,
)
PII_FINDINGS = Metric(
    "naestro_pii_findings_total",
    "counter",
    ("type", "stage"),
    "PII found, by detector type and stage (prompt, tool_arguments, tool_result, output); "
    "counts only, never values",
)
MEMORY_RECALLS = Metric(
    "naestro_memory_recalls_total",
    "counter",
    ("outcome",),
    "memory recalls (hit: context given, miss: nothing relevant, error)",
)
MEMORY_RECALL_SECONDS = Metric(
    "naestro_memory_recall_duration_seconds",
    "histogram",
    (),
    "one recall's latency (embedding and hybrid search)",
    "s",
    buckets=SHORT_SECONDS,
)
MEMORY_WRITES = Metric(
    "naestro_memory_writes_total", "counter", ("outcome",), "task outcomes written to memory"
)
API_REQUESTS = Metric(
    "naestro_api_requests_total",
    "counter",
    ("route", "method", "status"),
    "HTTP API requests by route template and status code",
)
API_SECONDS = Metric(
    "naestro_api_request_duration_seconds",
    "histogram",
    ("route", "method"),
    "HTTP API request latency",
    "s",
    buckets=SHORT_SECONDS,
)
API_THROTTLED = Metric(
    "naestro_api_throttled_total",
    "counter",
    ("reason",),
    "requests answered 429 (rate limit, queue backpressure)",
)
ENGINE_UP = Metric(
    "naestro_engine_up",
    "gauge",
    ("engine", "kind"),
    "1 while a supervised local engine answers with its model, else 0",
)
ENGINE_RESTARTS = Metric(
    "naestro_engine_restarts_total", "counter", ("engine",), "supervised engine restarts"
)
# GPU telemetry (workers/gpu/): one series per GPU or MIG instance of the node ("gpu" is its
# CUDA_VISIBLE_DEVICES key), read by the worker that owns them every gpu.sample_seconds.
GPU_MEMORY_USED = Metric(
    "naestro_gpu_memory_used_bytes", "gauge", ("pool", "gpu"), "GPU memory in use", "bytes"
)
GPU_MEMORY_TOTAL = Metric(
    "naestro_gpu_memory_total_bytes", "gauge", ("pool", "gpu"), "GPU memory", "bytes"
)
GPU_UTILIZATION = Metric(
    "naestro_gpu_utilization_ratio", "gauge", ("pool", "gpu"), "GPU busy share of the last period"
)
GPU_TEMPERATURE = Metric(
    "naestro_gpu_temperature_celsius", "gauge", ("pool", "gpu"), "GPU core temperature", "C"
)
GPU_POWER = Metric("naestro_gpu_power_watts", "gauge", ("pool", "gpu"), "GPU power draw", "W")
GPU_SM_CLOCK = Metric("naestro_gpu_sm_clock_hertz", "gauge", ("pool", "gpu"), "GPU SM clock", "Hz")
GPU_ECC_ERRORS = Metric(
    "naestro_gpu_ecc_uncorrected_errors",
    "gauge",
    ("pool", "gpu"),
    "uncorrected ECC errors since the driver loaded (volatile count)",
)
GPU_XID = Metric(
    "naestro_gpu_xid_errors_total",
    "counter",
    ("pool", "gpu", "xid"),
    "XID events NVML reported (routing reacts to gpu.critical_xids only)",
)
GPU_READ_ERRORS = Metric(
    "naestro_gpu_read_errors_total",
    "counter",
    ("pool", "gpu"),
    "samples in which NVML could not read the GPU (lost, fallen off the bus)",
)
GPU_ENGINE_HEALTHY = Metric(
    "naestro_gpu_engine_healthy",
    "gauge",
    ("pool", "engine"),
    "1 while every GPU of a supervised engine is readable, not full and error-free (routing "
    "skips the engine while 0)",
)
GPU_SLOTS_IN_USE = Metric(
    "naestro_gpu_slots_in_use",
    "gauge",
    ("engine",),
    "model calls an engine's worker has admitted (GPU slots held)",
)
ENGINE_KV_CACHE = Metric(
    "naestro_engine_kv_cache_usage_ratio",
    "gauge",
    ("engine",),
    "how full a GPU engine's KV cache is, as its own /metrics says (vLLM)",
)
ENGINE_WAITING = Metric(
    "naestro_engine_requests_waiting",
    "gauge",
    ("engine",),
    "requests queued inside a GPU engine, as its own /metrics says (vLLM)",
)
GPU_ADMISSION_WAIT = Metric(
    "naestro_gpu_admission_wait_seconds",
    "histogram",
    ("engine", "reason"),
    "how long an engine's worker held back from taking a call (reason: concurrency, memory, "
    "kv_cache, engine_queue)",
    "s",
)
GPU_LEASE_WAIT = Metric(
    "naestro_gpu_lease_wait_seconds",
    "histogram",
    ("pool", "priority"),
    "how long a GPU job waited for its lease (first grant and every resume)",
    "s",
)
GPU_PREEMPTIONS = Metric(
    "naestro_gpu_preemptions_total",
    "counter",
    ("pool",),
    "GPU jobs that checkpointed and yielded to higher-priority work",
)

ALL: tuple[Metric, ...] = (
    TASKS_STARTED,
    TASKS_FINISHED,
    TASK_SECONDS,
    PHASE_SECONDS,
    BUDGET_EXHAUSTED,
    APPROVAL_WAIT,
    MODEL_CALLS,
    MODEL_CALL_SECONDS,
    MODEL_TOKENS,
    MODEL_COST,
    MODEL_GPU_SECONDS,
    BREAKER_OPEN,
    GOVERNOR_LATENCY,
    GOVERNOR_ERRORS,
    SANDBOX_RUNS,
    SANDBOX_SECONDS,
    PII_FINDINGS,
    MEMORY_RECALLS,
    MEMORY_RECALL_SECONDS,
    MEMORY_WRITES,
    API_REQUESTS,
    API_SECONDS,
    API_THROTTLED,
    ENGINE_UP,
    ENGINE_RESTARTS,
    GPU_MEMORY_USED,
    GPU_MEMORY_TOTAL,
    GPU_UTILIZATION,
    GPU_TEMPERATURE,
    GPU_POWER,
    GPU_SM_CLOCK,
    GPU_ECC_ERRORS,
    GPU_XID,
    GPU_READ_ERRORS,
    GPU_ENGINE_HEALTHY,
    GPU_SLOTS_IN_USE,
    ENGINE_KV_CACHE,
    ENGINE_WAITING,
    GPU_ADMISSION_WAIT,
    GPU_LEASE_WAIT,
    GPU_PREEMPTIONS,
)


# The Temporal SDK's own series that infra/ queries, as its exporter names them with the
# runtime's config (naestro/telemetry/runtime.py: counters end in _total, durations in
# seconds); read off a live endpoint (sdk-python 1.35). Failure counters appear only after
# a first failure. tests/infra checks the dashboards and rules name only these and ALL's.
SDK_SERIES = frozenset(
    {
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_workflow_task_schedule_to_start_latency_count",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_activity_schedule_to_start_latency_count",
        "temporal_worker_task_slots_available",
        "temporal_request_failure_total",
        "temporal_workflow_completed_total",
        "temporal_workflow_failed_total",
    }
)


def series_names() -> set[str]:
    """Every series name a query may use: histograms add _bucket, _sum and _count."""
    names: set[str] = set()
    for metric in ALL:
        names.add(metric.name)
        if metric.kind == "histogram":
            names.update(f"{metric.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names
