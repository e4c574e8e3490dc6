"""Workflow, query, signal and update names: the one place they are spelled.

Workflows declare them (``@workflow.defn(name=names.TASK_WORKFLOW)``); clients (the CLI, the
API, schedules) use them to start, query, signal and update without importing workflow code.
They are durable: a renamed constant breaks running workflows and recorded histories.
"""

from __future__ import annotations

# Workflows
TASK_WORKFLOW = "naestro.task"
CONSENSUS_WORKFLOW = "naestro.consensus"
VERIFY_WORKFLOW = "naestro.verify"
INGEST_WORKFLOW = "naestro.ingest"
PII_CALIBRATION_WORKFLOW = "naestro.pii.calibration"

# TaskWorkflow
# A task id (its workflow id): what the API's /v1/tasks/{id} paths and the UI's links carry.
TASK_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,200}$"
STATUS_QUERY = "status"
EVENTS_QUERY = "events"
CANCEL_SIGNAL = "cancel"
APPROVAL_UPDATE = "approval"

# ConsensusWorkflow
LEDGER_QUERY = "ledger"
HUMAN_REVIEW_SIGNAL = "human_review"

# RolloutWorkflow (one per worker deployment: ROLLOUT_ID_PREFIX + deployment name)
ROLLOUT_WORKFLOW = "naestro.rollout"
ROLLOUT_ID_PREFIX = "naestro-rollout-"
ROLLOUT_STATE_QUERY = "rollout_state"
ROLLOUT_COMMAND_UPDATE = "rollout_command"

# GpuPoolWorkflow (one per GPU pool, i.e. node: settings.pool_workflow_id(pool)) and GPU jobs
GPU_POOL_WORKFLOW = "naestro.gpu.pool"
GPU_JOB_WORKFLOW = "naestro.gpu.job"
GPU_POOL_QUERY = "gpu_pool"
GPU_HEALTH_SIGNAL = "gpu_health"
GPU_ACQUIRE_UPDATE = "gpu_acquire"
GPU_WATCH_UPDATE = "gpu_watch"
GPU_RELEASE_UPDATE = "gpu_release"

# ResearchWorkflow (one per research job: RESEARCH_ID_PREFIX + a short id); its progress
# log answers EVENTS_QUERY like a task's
RESEARCH_WORKFLOW = "naestro.research"
RESEARCH_ID_PREFIX = "research-"
RESEARCH_QUERY = "research"
RESEARCH_STEER_UPDATE = "research_steer"

# Research store activities (naestro.memory queue: Postgres)
RESEARCH_SAVE_FINDINGS = "naestro.research.save_findings"
RESEARCH_FINDINGS = "naestro.research.findings"
RESEARCH_SAVE_REPORT = "naestro.research.save_report"
