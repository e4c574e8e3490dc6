"""Named timeout and retry presets. Every activity call in a workflow uses one of these."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio.common import RetryPolicy

from naestro.errors import NON_RETRYABLE_ERROR_TYPES


@dataclass(frozen=True)
class Preset:
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


# Model calls: retried by Temporal (SDK retries are off); 429 Retry-After overrides the
# backoff through next_retry_delay. Heartbeats catch a dead worker long before the
# start-to-close timeout would. A call gets a policy's `routing.call_attempts` attempts on
# one provider (llm_retry), then the one call path sends it to the fallback; the task's
# wall time left bounds all attempts together.
LLM_CALL = Preset(
    start_to_close=timedelta(minutes=10),
    heartbeat=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=2,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)


def llm_retry(attempts: int) -> RetryPolicy:
    """LLM_CALL's retry policy with ``attempts`` attempts on one provider."""
    return replace(LLM_CALL.retry, maximum_attempts=attempts)


# Sandbox runs: the code under test failing is a report, not an error; only the sandbox
# itself failing is retried, a few times.
SANDBOX_RUN = Preset(
    start_to_close=timedelta(minutes=5),
    heartbeat=timedelta(seconds=30),
    # The sandbox's own failures (a container killed, Docker restarting, a full scratch
    # disk) are retried for ~15 s (1 + 2 + 4 + 8): a verification, and with it all the task's
    # model work, is not lost to a blip (tests/drills (e), (f)).
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=5,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# Checks of an answer (maths, JSON schema) on the sandbox queue: a check that fails or
# overruns its own deadline is a result; only its process failing to start is retried.
CHECK_RUN = Preset(
    start_to_close=timedelta(minutes=3),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_attempts=3,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# A model's tool call (naestro.tools.call, or a built-in's sandbox run / memory search): the
# call's own timeout (tools.call_timeout_seconds) replaces start_to_close; heartbeats carry a
# cancel to the worker, which then kills the tool's process tree. A server that cannot be
# reached is tried once more; a tool's own error is a result the model reads, never a retry.
TOOL_CALL = Preset(
    start_to_close=timedelta(seconds=60),
    heartbeat=timedelta(seconds=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_attempts=2,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# Tool discovery (naestro.tools.list): each allowed MCP server's tools, once per task (the
# tools worker caches them); a server that does not answer is left out, not retried long.
TOOL_LIST = Preset(
    start_to_close=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_attempts=2,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# Cheap, local, deterministic steps (PII scan, routing): run as local activities.
LOCAL_FAST = Preset(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_attempts=3,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# Memory calls (retrieval, write-back) on naestro.memory: a few quick retries, then the task
# goes on without memory rather than failing.
MEMORY_CALL = Preset(
    start_to_close=timedelta(minutes=2),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_attempts=3,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# A task's write-back to memory: retried for ~25 s (1 + 2 + 4 + 8 + 10), so a Postgres
# restart does not drop it (tests/drills (c): three tries lost every write-back of a 10 s
# outage); the task's answer waits for it only while the database is away.
MEMORY_WRITE = Preset(
    start_to_close=timedelta(minutes=2),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=6,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# Ingestion jobs: long, heartbeating; a retry resumes after the last file it reported.
INGEST_RUN = Preset(
    start_to_close=timedelta(hours=6),
    heartbeat=timedelta(minutes=2),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        maximum_attempts=10,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)

# A rollout's routing changes and measurements (workflows/rollout.py): server calls that
# retry while the server is away; a refused change (DeploymentError) is not retried.
ROLLOUT_STEP = Preset(
    start_to_close=timedelta(minutes=5),
    heartbeat=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=10,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    ),
)


# A GPU job (workflows/gpu_job.py): its own timeout sets start_to_close; a heartbeat a
# minute, so a dead worker's job starts again from its checkpoint; a few attempts for
# failures of the machinery, none for the job's own non-zero exit.
GPU_JOB = Preset(
    start_to_close=timedelta(hours=24),  # replaced by the request's timeout_seconds
    heartbeat=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=4,
        non_retryable_error_types=["GpuJobFailed", "GpuLeaseRefused"],
    ),
)
