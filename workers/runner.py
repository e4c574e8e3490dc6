"""The workflow sandbox configuration, shared by every worker and by the replay tests."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Modules whose import is side-effect free and which workflow code reaches through our
# payload contracts and activity classes. Passing them through means they are imported
# once per worker, not once per workflow run.
PASSTHROUGH = (
    "pydantic",  # payload contracts (naestro.contracts)
    "pydantic_core",  # pydantic's compiled core
    "annotated_types",  # pydantic's constraint types
    "openai",  # adapter classes referenced by ModelActivities (not called in workflows)
    "anthropic",  # likewise
    "google",  # google-genai, likewise
    "httpx",  # imported by the provider SDKs
    "phonenumbers",  # naestro.pii (pure detectors)
    "yaml",  # naestro.config.settings, imported by activity modules
    "naestro.contracts",  # our payload models: pure, immutable; rebuilt per run otherwise
    "naestro.config.settings",  # likewise (config models), reached through activity modules
    "activities",  # activity classes: workflows only reference their methods
    # The library modules workflow code calls: pure functions and constants (no module state,
    # no clock, no unseeded randomness, no I/O on import). Re-imported per workflow run they
    # cost ~100 ms of CPU a task (bench/overhead.py under py-spy); passed through, nothing.
    *(
        f"naestro.{name}"
        for name in (
            "checkers",
            "confidence",
            "consensus_prompts",
            "errors",
            "examples",
            "fencing",
            "gpu_leases",
            "ledger",
            "names",
            "outcome",
            "parsing",
            "pii",
            "plans",
            "presets",
            "prompts",
            "quality",
            "research",
            "search",
            "structured",
            "telemetry.catalogue",
            "telemetry.flow",
            "tools",
        )
    ),
)


# Our workflow code itself: the workflow definitions and the steps they share. The sandbox
# imports a workflow's module (and what it imports that is not passed through) afresh for
# every workflow run, ~25 ms of CPU a TaskWorkflow here (its dataclasses, its prompts): a
# quarter of a worker's CPU at throughput (bench/throughput.py under py-spy). These modules
# keep no module state (constants only) and call only workflow.* for time, randomness and
# I/O, so workers pass them through; what passing through gives up, the sandbox's
# restrictions on calls made from these modules, the replay gate keeps: it replays every
# recorded history with ``strict=True`` (tests/replay.py).
WORKFLOW_CODE = ("workflows",)


def workflow_runner(*, strict: bool = False) -> SandboxedWorkflowRunner:
    """The workers' runner; ``strict``: our workflow code re-imported for every run, under
    the sandbox's restrictions (the replay gate)."""
    modules = PASSTHROUGH if strict else (*PASSTHROUGH, *WORKFLOW_CODE)
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )
