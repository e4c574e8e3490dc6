"""The harness's settings: one llama.cpp engine per bundled model (supervised by the
worker), a provider serving it, and one Naestro policy per compared policy."""

from __future__ import annotations

import os
from dataclasses import dataclass

from naestro.config.settings import (
    EngineConfig,
    MemoryConfig,
    PolicyConfig,
    ProviderConfig,
    QueueConfig,
    Settings,
)
from naestro.contracts import ConsensusPolicy

DIRECT = "direct"
SINGLE = "single"
SELF_CONSENSUS = "self-consensus"
CONSENSUS = "consensus"
ALL_POLICIES = (DIRECT, SINGLE, SELF_CONSENSUS, CONSENSUS)
ROLES = ("planner", "implementer", "refiner", "judge", "proposer", "critic", "synthesizer")
# The Naestro policy each compared policy runs as (direct runs without Naestro).
POLICY_NAMES = {SINGLE: "eval-single", SELF_CONSENSUS: "eval-self", CONSENSUS: "eval-consensus"}


@dataclass(frozen=True)
class HarnessOptions:
    engines: list[str]  # bundled model names, the first one the "one model"
    base_port: int = 18080
    proposers: int = 3
    max_output_tokens: int = 512
    context_size: int = 4096
    threads: int | None = None
    temperature: float = 0.8  # draws after the first (temperature 0): resamples, proposals


def provider_id(model: str) -> str:
    return "eval_" + "".join(c if c.isalnum() else "_" for c in model)


def engine_entries(options: HarnessOptions) -> tuple[list[ProviderConfig], list[EngineConfig]]:
    providers, engines = [], []
    for i, model in enumerate(options.engines):
        pid, port = provider_id(model), options.base_port + i
        providers.append(
            ProviderConfig(
                id=pid,
                engine="llamacpp",
                model=model,
                endpoint=f"http://127.0.0.1:{port}/v1",
                context_window=options.context_size,
                max_concurrency=1,  # llama.cpp's server answers one request at a time
                timeout_seconds=900,
            )
        )
        engines.append(
            EngineConfig(
                id=pid,
                model=f"bundled:{model}",
                port=port,
                context_size=options.context_size,
                # llama.cpp's server takes half the CPUs by default (physical cores behind
                # hyper-threads); the harness's engine has the machine to itself.
                threads=options.threads or len(os.sched_getaffinity(0)),
            )
        )
    return providers, engines


def policies(providers: list[str], options: HarnessOptions) -> dict[str, PolicyConfig]:
    """single: the first model in every role, a failing answer drawn afresh; self-consensus:
    that model sampled N times as proposers; consensus: every model proposes (when there are
    several). Each answers the
    problem as asked (no plan, no tests of its own, temperature 0 as the direct call) and is
    verified by the problem's examples; the judge is asked only about answers no passing
    test verified; proposals are selected by their tests, drawn only when the first fails.
    No memory: one problem must not recall another's answer."""
    one = dict.fromkeys(ROLES, providers[:1])
    common = {
        "max_output_tokens": options.max_output_tokens,
        "memory": False,
        "plan": False,
        "write_tests": False,
        "review": "unverified",
        "temperature": 0.0,
    }
    selection = {"critics": 0, "max_rounds": 1, "selection": "tests", "adaptive": True}
    out = {
        # A failing first answer is drawn afresh, not revised: on the 1.5B model revisions
        # fixed 0 of 7 failing drafts, fresh samples 3 of 6 (docs/consensus.md).
        POLICY_NAMES[SINGLE]: PolicyConfig.model_validate(
            {
                "roles": one,
                "refine": "resample",
                "resample_temperature": options.temperature,
                **common,
            }
        ),
        POLICY_NAMES[SELF_CONSENSUS]: PolicyConfig.model_validate(
            {
                "roles": one,
                "consensus": ConsensusPolicy(
                    proposers=options.proposers,
                    self_consensus=True,
                    self_temperature=options.temperature,
                    **selection,
                ),
                **common,
            }
        ),
    }
    if len(providers) > 1:
        many = {**one, "proposer": providers, "critic": providers}
        out[POLICY_NAMES[CONSENSUS]] = PolicyConfig.model_validate(
            {
                "roles": many,
                "consensus": ConsensusPolicy(proposers=len(providers), **selection),
                **common,
            }
        )
    return out


def harness_settings(base: Settings, options: HarnessOptions) -> Settings:
    """``base`` (sandbox, dev) with the harness's engines, providers, policies and queues;
    memory off."""
    providers, engines = engine_entries(options)
    ids = [p.id for p in providers]
    settings = Settings.model_validate(
        {
            **base.model_dump(exclude={"providers", "policies", "engines", "memory", "queues"}),
            "providers": [p.model_dump() for p in providers],
            "engines": [e.model_dump() for e in engines],
            "policies": {k: v.model_dump() for k, v in policies(ids, options).items()},
            "memory": MemoryConfig(enabled=False).model_dump(),
            "queues": own_queues(base.queues).model_dump(),
        }
    )
    return settings.model_copy(update={"source": base.source})


def own_queues(queues: QueueConfig, suffix: str = "eval") -> QueueConfig:
    """Queues of the harness's (or a bench's) own: the workers of a stack already running on
    the same server do not know its policies and must not take its tasks."""
    return queues.model_copy(
        update={
            "orchestrator": f"{queues.orchestrator}.{suffix}",
            "sandbox": f"{queues.sandbox}.{suffix}",
            "memory": f"{queues.memory}.{suffix}",
            "models_cloud": f"{queues.models_cloud}.{suffix}",
        }
    )


def available(chosen: list[str], models: int) -> list[str]:
    """The chosen policies this setup can run: cross-model consensus needs two models."""
    return [p for p in chosen if p != CONSENSUS or models > 1]
