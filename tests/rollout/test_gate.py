"""The rollout gate (naestro/gate.py) and its statistics helpers: pure, no server."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from naestro.contracts import ArmStats, GateRule, PairStats, TaskOutcome
from naestro.gate import arm_stats, critical_z, decide, pair_stats, planned_looks

RULE = GateRule()


def arm(n: int, rate: float, **sums: float) -> ArmStats:
    return ArmStats.model_validate({"n": n, "passes": round(n * rate), **sums})


def scored(n: int, rate: float, mean: float, var: float) -> ArmStats:
    return arm(n, rate, scored=n, score_sum=n * mean, score_sq_sum=n * (var + mean * mean))


def outcome(passed: bool, **fields: object) -> TaskOutcome:
    return TaskOutcome.model_validate({"task_id": "t", "passed": passed, "failed": False, **fields})


def test_arm_stats_sums_and_means() -> None:
    stats = arm_stats(
        [
            outcome(True, score=0.9, confidence=0.8, cost_usd=0.02, seconds=3.0),
            outcome(False, failed=True, cost_usd=0.04, seconds=5.0),
        ]
    )
    assert (stats.n, stats.passes, stats.failures, stats.scored, stats.confident) == (2, 1, 1, 1, 1)
    assert stats.pass_rate == 0.5 and stats.failure_rate == 0.5
    assert stats.mean_score == pytest.approx(0.9) and stats.score_sq_sum == pytest.approx(0.81)
    assert stats.mean_confidence == pytest.approx(0.8)
    assert stats.mean_cost == pytest.approx(0.03) and stats.mean_seconds == pytest.approx(4.0)
    more = arm_stats([outcome(True)], start=stats)  # a running total carries on
    assert (more.n, more.passes, more.scored) == (3, 2, 1)
    empty = ArmStats()
    assert empty.pass_rate is None and empty.mean_score is None and empty.mean_confidence is None
    assert empty.mean_cost == 0 and empty.mean_seconds == 0


def test_pair_stats_counts_the_table() -> None:
    yes, no = outcome(True), outcome(False)
    stats = pair_stats([(yes, yes), (yes, no), (yes, no), (no, yes), (no, no)])
    assert stats == PairStats(n=5, both_pass=1, baseline_only=2, candidate_only=1, neither=1)
    assert pair_stats([(no, yes)], start=stats).candidate_only == 2


def test_the_correction_covers_every_planned_look() -> None:
    assert planned_looks(RULE) == 16
    assert critical_z(RULE) == pytest.approx(2.734, abs=1e-3)  # one-sided 0.05 / 16


def test_equal_arms_promote_at_min_tasks() -> None:
    early = decide(RULE, arm(5400, 0.8), arm(600, 0.8), None, looks=2)
    assert early.action == "continue" and "promotion waits for 800" in early.reason
    decision = decide(RULE, arm(7200, 0.8), arm(800, 0.8), None, looks=3)
    assert decision.action == "promote" and decision.look == 4
    assert decision.delta == 0 and decision.z == 0 and not decision.paired
    assert (decision.n_baseline, decision.n_candidate) == (7200, 800)


def test_a_clearly_worse_candidate_rolls_back_at_the_first_look() -> None:
    decision = decide(RULE, arm(1800, 0.8), arm(200, 0.6), None, looks=0)
    assert decision.action == "rollback" and decision.look == 1
    assert decision.z is not None and decision.z < -6
    assert "significantly worse" in decision.reason


def test_no_decision_between_looks() -> None:
    awful = arm(399, 0.0)
    decision = decide(RULE, arm(3600, 0.8), awful, None, looks=1)
    assert decision.action == "continue" and decision.look == 1
    assert "waiting for 1 more candidate tasks (look 2 at 400)" in decision.reason


def test_several_due_looks_are_taken_as_one() -> None:
    decision = decide(RULE, arm(5850, 0.8), arm(650, 0.8), None, looks=0)
    assert decision.look == 3 and decision.action == "continue"


def test_a_small_insignificant_drop_continues() -> None:
    decision = decide(RULE, arm(7200, 0.8), arm(800, 0.79), None, looks=3)
    assert decision.action == "continue"
    assert decision.delta == pytest.approx(-0.01) and decision.z is not None
    assert -2.734 < decision.z < 0
    assert "neither above -0.0001 nor significantly worse" in decision.reason


def test_the_last_look_without_a_decision_is_inconclusive() -> None:
    decision = decide(RULE, arm(28800, 0.8), arm(3200, 0.79), None, looks=15)
    assert decision.action == "inconclusive" and decision.look == 16
    assert "the workflow will roll back (on_inconclusive: rollback)" in decision.reason
    ask = decide(GateRule(on_inconclusive="ask"), arm(28800, 0.8), arm(3200, 0.79), None, 15)
    assert ask.action == "inconclusive" and "ask a person" in ask.reason


def test_pairing_decides_sooner_on_the_same_effect() -> None:
    baseline, candidate = arm(400, 0.8), arm(400, 0.77)  # 320 vs 308 passes
    unpaired = decide(RULE, baseline, candidate, None, looks=1)
    assert unpaired.action == "continue"
    pairs = PairStats(n=400, both_pass=306, baseline_only=14, candidate_only=2, neither=78)
    paired = decide(RULE, baseline, candidate, pairs, looks=1)
    assert paired.action == "rollback" and paired.paired
    assert paired.delta == pytest.approx(-0.03) and paired.z == pytest.approx(-3.0)
    assert unpaired.delta == pytest.approx(paired.delta)


def test_the_failure_guard_needs_significance() -> None:
    baseline = arm(1800, 0.8, failures=18)
    worse = decide(RULE, baseline, arm(200, 0.8, failures=20), None, looks=0)
    assert worse.action == "rollback" and "failure guard" in worse.reason
    one = decide(RULE, arm(1800, 0.8), arm(200, 0.8, failures=1), None, looks=0)
    assert one.action == "continue"  # one failure against none is not evidence
    tolerated = GateRule(failure_tolerance=0.15)
    assert decide(tolerated, baseline, arm(200, 0.8, failures=20), None, 0).action == "continue"


def test_the_score_guard_allows_its_tolerance() -> None:
    baseline = scored(1800, 0.8, mean=0.8, var=0.01)
    lower = decide(RULE, baseline, scored(200, 0.8, mean=0.7, var=0.01), None, looks=0)
    assert lower.action == "rollback" and "score guard" in lower.reason
    within = decide(RULE, baseline, scored(200, 0.8, mean=0.78, var=0.01), None, looks=0)
    assert within.action == "continue"


@pytest.mark.parametrize(
    ("name", "field", "base", "worse"),
    [("cost", "cost_sum", 0.01, 0.013), ("latency", "seconds_sum", 2.0, 3.1)],
)
def test_cost_and_latency_guards_wait_for_min_tasks(
    name: str, field: str, base: float, worse: float
) -> None:
    early = decide(
        RULE, arm(1800, 0.8, **{field: 1800 * base}), arm(200, 0.8, **{field: 200 * worse}), None, 0
    )
    assert early.action == "continue"
    late = decide(
        RULE, arm(7200, 0.8, **{field: 7200 * base}), arm(800, 0.8, **{field: 800 * worse}), None, 3
    )
    assert late.action == "rollback" and f"{name} guard" in late.reason
    fine = decide(
        RULE,
        arm(7200, 0.8, **{field: 7200 * base}),
        arm(800, 0.8, **{field: 800 * base * 1.2}),
        None,
        3,
    )
    assert fine.action == "promote"


def test_zero_variance_never_divides_by_zero() -> None:
    perfect = decide(RULE, arm(7200, 1.0), arm(800, 1.0), None, looks=3)
    assert (perfect.action, perfect.delta, perfect.z) == ("promote", 0, 0)
    broken = decide(RULE, arm(1800, 1.0), arm(200, 0.0), None, looks=0)
    assert broken.action == "rollback" and broken.z is not None and broken.z < -40
    agree = PairStats(n=800, both_pass=640, neither=160)
    assert decide(RULE, arm(800, 0.8), arm(800, 0.8), agree, 3).z == 0
    constant = decide(RULE, scored(1800, 0.8, 0.9, 0.0), scored(200, 0.8, 0.5, 0.0), None, 0)
    assert constant.action == "rollback" and "score guard" in constant.reason
    assert "-inf" in constant.reason


def test_no_data_yet_is_no_delta() -> None:
    decision = decide(RULE, ArmStats(), arm(200, 0.8), PairStats(), looks=0)
    assert decision.action == "continue" and decision.delta is None and decision.z is None
    assert "no pass-rate delta yet" in decision.reason


def test_discordant_pairs_alone_decide() -> None:
    few = PairStats(n=200, both_pass=155, baseline_only=5, neither=40)
    assert decide(RULE, arm(200, 0.8), arm(200, 0.775), few, 0).action == "continue"
    more = PairStats(n=200, both_pass=150, baseline_only=10, neither=40)
    assert decide(RULE, arm(200, 0.8), arm(200, 0.75), more, 0).action == "rollback"


@pytest.mark.parametrize(
    "fields",
    [
        {"min_tasks": 0},
        {"look_every": 0},
        {"min_tasks": 800, "max_tasks": 799},
        {"confidence": 0.5},
        {"confidence": 1.0},
        {"on_inconclusive": "shrug"},
    ],
)
def test_gate_rule_validation(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GateRule.model_validate(fields)


def test_contracts_are_frozen() -> None:
    with pytest.raises(ValidationError):
        RULE.min_tasks = 1  # type: ignore[misc]
    assert math.isclose(GateRule.model_validate_json(RULE.model_dump_json()).confidence, 0.95)
