"""Pure parts: circuit breaker, governor, ledger, confidence formula."""

from __future__ import annotations

import logging

import pytest

from activities.routing.breaker import CircuitBreaker
from activities.routing.governor import Governor
from naestro.confidence import agreement, components, confidence, proposal_scores
from naestro.config.settings import Settings
from naestro.contracts import CallOutcome, ConfidenceWeights, Critique, JudgeVerdict, ModelCall
from naestro.ledger import BudgetExceeded, LedgerBook


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, window_seconds=60, cooldown_seconds=30, clock=clock)
    breaker.record(False)
    clock.now = 61  # the first failure leaves the window
    breaker.record(False)
    breaker.record(False)
    assert breaker.state == "closed" and breaker.allows()
    breaker.record(False)
    assert breaker.state == "open" and not breaker.allows()
    clock.now += 30
    assert breaker.allows() and breaker.state == "half_open"
    assert not breaker.allows()  # exactly one probe at a time
    breaker.record(False)
    assert breaker.state == "open"
    clock.now += 30
    assert breaker.allows()
    breaker.record(True)
    assert breaker.state == "closed" and breaker.allows()


def settings(**governor: object) -> Settings:
    return Settings.model_validate(
        {
            "providers": [
                {"id": "slow", "engine": "replay", "model": "m", "latency_limit_ms": 500}
            ],
            "governor": {"min_latency_samples": 3, **governor},
        }
    )


def ok(latency: float, tokens: int = 100) -> CallOutcome:
    return CallOutcome(provider_id="slow", ok=True, latency_ms=latency, output_tokens=tokens)


def test_governor_emas_and_latency_fallback() -> None:
    clock = Clock()
    gov = Governor(settings(ema_alpha=0.5, breaker_cooldown_seconds=30), clock=clock)
    for latency in (200.0, 400.0):
        gov.observe(ok(latency))
    health = gov.health("slow")
    assert health.latency_ms == 300.0
    assert health.tokens_per_s == pytest.approx(0.5 * 250 + 0.5 * 500)
    gov.observe(CallOutcome(provider_id="slow", ok=False))
    assert health.error_rate == 0.5
    assert gov.blocked("slow") is None
    gov.observe(ok(900.0))  # p95 of the last calls is now 900 ms > 500 ms
    assert gov.blocked("slow") == "p95 latency 900 ms above its 500 ms limit"
    clock.now = 30  # after the cool-down its old latencies are forgotten: measured afresh
    assert gov.blocked("slow") is None and gov.health("slow").p95() is None
    assert gov.snapshot()["slow"]["breaker"] == "closed"


def test_governor_counts_an_outcome_handed_over_twice_once() -> None:
    gov = Governor(settings(breaker_failures=2))
    failed = CallOutcome(provider_id="slow", ok=False, key="task-1/run-1/1")
    for _ in range(3):  # a routing local activity run again after a workflow-task retry
        gov.observe(failed)
    assert gov.health("slow").failures == 1 and gov.blocked("slow") is None
    gov.observe(failed.model_copy(update={"key": "task-1/run-1/2"}))
    assert gov.blocked("slow") == "circuit open"  # two distinct failures


def test_governor_dry_run_logs_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    gov = Governor(settings(dry_run=True, breaker_failures=1))
    gov.observe(CallOutcome(provider_id="slow", ok=False))
    with caplog.at_level(logging.INFO, logger="activities.routing.governor"):
        assert gov.blocked("slow") is None
    assert "would route around slow: circuit open" in caplog.text


def call(tokens_in: int, tokens_out: int, usd: float, phase: str = "implement") -> ModelCall:
    return ModelCall(
        phase=phase,
        role="proposer",
        provider="p",
        model="m",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=usd,
        latency_ms=1000,
        gpu_seconds=2.0,
    )


def test_ledger_reserves_then_reconciles() -> None:
    book = LedgerBook(max_tokens=1000, max_usd=1.0)
    first = book.reserve(300, 200, price_in=1.0, price_out=2.0)
    assert book.view().reserved_tokens == 500
    assert book.output_cap(300, 2048, 2.0) == 1000 - 500 - 300
    with pytest.raises(BudgetExceeded, match="token budget"):
        book.reserve(600, 10, 0.0, 0.0)  # does not fit beside the open reservation
    book.reconcile(first, call(300, 50, 0.0004))
    view = book.view()
    assert view.reserved_tokens == 0 and view.total.input_tokens == 300
    assert view.total.gpu_seconds == 2.0 and view.phases["implement"].calls == 1


def test_output_cap_leaves_room_to_pay_for_the_prompt() -> None:
    # $0.03 left; the prompt costs $0.012 (4,000 tokens at $3/M), so the reply may cost
    # $0.018 at most: 1,200 tokens at $15/M, not the 2,000 the whole $0.03 would buy.
    book = LedgerBook(max_tokens=1_000_000, max_usd=0.03)
    held = book.reserve(4000, 2048, price_in=3.0, price_out=15.0)
    assert held.output_cap == 1200
    assert held.usd <= 0.03
    with pytest.raises(BudgetExceeded, match="USD budget"):
        LedgerBook(max_tokens=1_000_000, max_usd=0.012).reserve(4000, 2048, 3.0, 15.0)


def test_confidence_formula() -> None:
    critique = Critique.model_validate(
        {
            "reviews": [
                {
                    "proposal": 1,
                    "issues": [{"severity": "high", "description": "x"}],
                    "scores": {"a": 1.0, "b": 0.6},
                },
                {"proposal": 2, "scores": {"a": 0.5}},
            ]
        }
    )
    assert proposal_scores([critique], 2) == [pytest.approx(0.8 * 0.75), 0.5]
    assert agreement(["Paris.", " paris ", "Lyon"]) == pytest.approx(2 / 3)
    verdict = JudgeVerdict(verdict="accept", score=0.9)
    parts = components(2 / 3, 0.6, verdict, None)
    expected = (0.2 * 2 / 3 + 0.25 * 0.6 + 0.35 * 0.9) / 0.8
    assert confidence(parts, ConfidenceWeights(), verdict) == pytest.approx(expected, abs=1e-5)
    reject = JudgeVerdict(verdict="reject", score=0.9)
    assert confidence(parts, ConfidenceWeights(), reject) == pytest.approx(expected / 2, abs=1e-5)
