"""The rollout gate: promote a candidate worker version, roll it back, or keep measuring.
Pure (the gate workflow calls it): stdlib arithmetic, no I/O, no clock, no randomness.

The seed rule, "promote if the pass-rate delta > -0.0001 over n >= 800 tasks, roll back
otherwise", is a coin flip for two equal versions: at n = 800 the standard error of the
difference of two ~0.8 pass rates is about 2 points. The gate keeps the rule for promotion
and guards it against noise:
- it looks only at fixed candidate counts (every ``look_every`` tasks up to ``max_tasks``),
  so watching the numbers in between changes no decision and cannot inflate the error;
- a rollback needs evidence, never a point estimate alone: the candidate significantly
  worse at the one-sided level alpha / L, with alpha = 1 - confidence and L the planned
  number of looks (Bonferroni), so an equal version is rolled back with probability at most
  alpha over the whole rollout, however many looks it takes;
- guards roll back too: significantly more failures, or a mean judge score lower by more
  than its tolerance (both at that corrected level), and, from ``min_tasks`` on, a mean
  cost or latency above its tolerated ratio;
- it promotes no candidate before ``min_tasks`` tasks per arm (per pair in shadow mode);
- in shadow mode both versions answer the same prompts, and the test (McNemar) counts only
  the prompts where they disagree, so prompt difficulty drops out of the noise.
A last look (``max_tasks``) that decides nothing returns "inconclusive"; the workflow then
applies ``on_inconclusive``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist

from naestro.contracts import ArmStats, GateAction, GateDecision, GateRule, PairStats, TaskOutcome

_NORMAL = NormalDist()
_CELLS = {
    (True, True): "both_pass",
    (True, False): "baseline_only",
    (False, True): "candidate_only",
    (False, False): "neither",
}
_RESOLUTION = {"rollback": "roll back", "promote": "promote", "ask": "ask a person"}


def arm_stats(outcomes: Iterable[TaskOutcome], start: ArmStats | None = None) -> ArmStats:
    """The arm's sums over outcomes, added to ``start`` (a running total) when given."""
    sums = (start or ArmStats()).model_dump()
    for o in outcomes:
        sums["n"] += 1
        sums["passes"] += int(o.passed)
        sums["failures"] += int(o.failed)
        sums["cost_sum"] += o.cost_usd
        sums["seconds_sum"] += o.seconds
        if o.score is not None:
            sums["scored"] += 1
            sums["score_sum"] += o.score
            sums["score_sq_sum"] += o.score * o.score
        if o.confidence is not None:
            sums["confident"] += 1
            sums["confidence_sum"] += o.confidence
            sums["confidence_sq_sum"] += o.confidence * o.confidence
    return ArmStats.model_validate(sums)


def pair_stats(
    pairs: Iterable[tuple[TaskOutcome, TaskOutcome]], start: PairStats | None = None
) -> PairStats:
    """The 2x2 table of (baseline, candidate) outcomes on the same prompts, added to ``start``."""
    cells = (start or PairStats()).model_dump()
    for baseline, candidate in pairs:
        cells["n"] += 1
        cells[_CELLS[baseline.passed, candidate.passed]] += 1
    return PairStats.model_validate(cells)


def planned_looks(rule: GateRule) -> int:
    return math.ceil(rule.max_tasks / rule.look_every)


def critical_z(rule: GateRule) -> float:
    """One-sided, Bonferroni-corrected over the planned looks."""
    return _NORMAL.inv_cdf(1 - (1 - rule.confidence) / planned_looks(rule))


def pass_delta(
    baseline: ArmStats, candidate: ArmStats, pairs: PairStats | None
) -> tuple[float | None, float | None]:
    """Candidate pass rate minus baseline's and its z: McNemar on the discordant pairs when
    paired, else the two-proportion test with pooled variance. None before any data."""
    if pairs is not None:
        if not pairs.n:
            return None, None
        b, c = pairs.baseline_only, pairs.candidate_only
        return (c - b) / pairs.n, _z(c - b, math.sqrt(b + c))
    if not (baseline.n and candidate.n):
        return None, None
    pooled = (baseline.passes + candidate.passes) / (baseline.n + candidate.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline.n + 1 / candidate.n))
    delta = candidate.passes / candidate.n - baseline.passes / baseline.n
    return delta, _z(delta, se)


def decide(
    rule: GateRule,
    baseline: ArmStats,
    candidate: ArmStats,
    pairs: PairStats | None,
    looks: int,
) -> GateDecision:
    """The gate's call; ``looks`` is the ``look`` of the previous decision (0 at first)."""
    delta, z = pass_delta(baseline, candidate, pairs)
    due = (looks + 1) * rule.look_every
    if candidate.n < due:
        wait = f"waiting for {due - candidate.n} more candidate tasks (look {looks + 1} at {due})"
        return _decision("continue", wait, looks, baseline, candidate, delta, z, pairs)
    look = max(looks + 1, min(candidate.n // rule.look_every, planned_looks(rule)))
    action, why = _verdict(rule, baseline, candidate, pairs, delta, z)
    reason = f"look {look} at {candidate.n} candidate tasks: {action}, {why}"
    return _decision(action, reason, look, baseline, candidate, delta, z, pairs)


def _verdict(
    rule: GateRule,
    baseline: ArmStats,
    candidate: ArmStats,
    pairs: PairStats | None,
    delta: float | None,
    z: float | None,
) -> tuple[GateAction, str]:
    z_crit = critical_z(rule)
    problem = _rollback_reason(rule, baseline, candidate, pairs, delta, z, z_crit)
    if problem:
        return "rollback", problem
    enough = _enough(rule, baseline, candidate, pairs)
    if enough and delta is not None and delta > rule.promote_delta:
        return "promote", f"{_show(delta, z)} is above {rule.promote_delta:+.4f}, no guard tripped"
    last = candidate.n >= rule.max_tasks
    why = f"{_show(delta, z)} is not significantly worse (z <= {-z_crit:.2f})"
    if enough:
        why = f"{_show(delta, z)} is neither above {rule.promote_delta:+.4f} nor significantly "
        why += f"worse (z <= {-z_crit:.2f})"
    elif not last:
        why += f"; promotion waits for {rule.min_tasks} tasks per arm"
    if last:
        then = _RESOLUTION[rule.on_inconclusive]
        return (
            "inconclusive",
            f"{why}; the workflow will {then} (on_inconclusive: {rule.on_inconclusive})",
        )
    return "continue", why


def _rollback_reason(
    rule: GateRule,
    baseline: ArmStats,
    candidate: ArmStats,
    pairs: PairStats | None,
    delta: float | None,
    z: float | None,
    z_crit: float,
) -> str | None:
    if delta is not None and z is not None and z <= -z_crit:
        kind = "paired " if pairs is not None else ""
        worse = f"{kind}delta {delta:+.4f}, z {z:.2f} <= {-z_crit:.2f}"
        return f"the candidate is significantly worse ({worse})"
    guards = [_failure_guard(rule, baseline, candidate, z_crit)]
    guards.append(_score_guard(rule, baseline, candidate, z_crit))
    if _enough(rule, baseline, candidate, pairs) and baseline.n:
        cost = (candidate.mean_cost, baseline.mean_cost, rule.cost_tolerance)
        latency = (candidate.mean_seconds, baseline.mean_seconds, rule.latency_tolerance)
        guards.append(_ratio_guard("cost", "${:.4f}", *cost))
        guards.append(_ratio_guard("latency", "{:.2f} s", *latency))
    return next((g for g in guards if g), None)


def _failure_guard(
    rule: GateRule, baseline: ArmStats, candidate: ArmStats, z_crit: float
) -> str | None:
    if not (baseline.n and candidate.n):
        return None
    # Agresti-Caffo: one failure and one success added to each arm, so an arm without
    # failures still has a variance and a single early failure is never decisive.
    pb = (baseline.failures + 1) / (baseline.n + 2)
    pc = (candidate.failures + 1) / (candidate.n + 2)
    se = math.sqrt(pb * (1 - pb) / (baseline.n + 2) + pc * (1 - pc) / (candidate.n + 2))
    z = _z(pc - pb - rule.failure_tolerance, se)
    if z < z_crit:
        return None
    return (
        f"failure guard: failure rate {candidate.failures / candidate.n:.4f} vs baseline's "
        f"{baseline.failures / baseline.n:.4f} + {rule.failure_tolerance:.4f} tolerated "
        f"(z {z:.2f} >= {z_crit:.2f})"
    )


def _score_guard(
    rule: GateRule, baseline: ArmStats, candidate: ArmStats, z_crit: float
) -> str | None:
    if not (baseline.scored and candidate.scored):
        return None
    mb, vb = _mean_var(baseline.scored, baseline.score_sum, baseline.score_sq_sum)
    mc, vc = _mean_var(candidate.scored, candidate.score_sum, candidate.score_sq_sum)
    z = _z(mc - mb + rule.score_tolerance, math.sqrt(vb / baseline.scored + vc / candidate.scored))
    if z > -z_crit:
        return None
    return (
        f"score guard: mean judge score {mc:.3f} vs baseline's {mb:.3f}, more than "
        f"{rule.score_tolerance:.3f} lower (z {z:.2f} <= {-z_crit:.2f})"
    )


def _ratio_guard(
    name: str, unit: str, candidate_mean: float, baseline_mean: float, tolerance: float
) -> str | None:
    ratio = 1 + tolerance
    if candidate_mean <= ratio * baseline_mean:
        return None
    return (
        f"{name} guard: mean {name} {unit.format(candidate_mean)} vs baseline's "
        f"{unit.format(baseline_mean)}, above {ratio:.2f}x"
    )


def _enough(
    rule: GateRule, baseline: ArmStats, candidate: ArmStats, pairs: PairStats | None
) -> bool:
    other = pairs.n if pairs is not None else baseline.n
    return candidate.n >= rule.min_tasks and other >= rule.min_tasks


def _mean_var(count: int, total: float, sq_total: float) -> tuple[float, float]:
    """Mean and sample variance from running sums (0 for a single sample)."""
    mean = total / count
    if count < 2:
        return mean, 0.0
    return mean, max(0.0, (sq_total - count * mean * mean) / (count - 1))


def _z(difference: float, se: float) -> float:
    """difference / se; with no variance a nonzero difference is decisive."""
    if se > 0:
        return difference / se
    return math.copysign(math.inf, difference) if difference else 0.0


def _show(delta: float | None, z: float | None) -> str:
    if delta is None or z is None:
        return "no pass-rate delta yet"
    return f"delta {delta:+.4f} (z {z:.2f})"


def _decision(
    action: GateAction,
    reason: str,
    look: int,
    baseline: ArmStats,
    candidate: ArmStats,
    delta: float | None,
    z: float | None,
    pairs: PairStats | None,
) -> GateDecision:
    return GateDecision(
        action=action,
        reason=reason,
        look=look,
        n_baseline=baseline.n,
        n_candidate=candidate.n,
        delta=delta,
        z=z,
        paired=pairs is not None,
    )
