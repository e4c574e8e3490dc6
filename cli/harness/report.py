"""The harness's summary: a table per policy for people, ``name value`` figures for
benchmarks, and the goals the quality bench reports against. Pure arithmetic."""

from __future__ import annotations

from rich.table import Table

from cli.harness.config import DIRECT, SELF_CONSENSUS, SINGLE
from cli.harness.results import PolicySummary


def table(summaries: list[PolicySummary]) -> Table:
    out = Table(title="pass@1 per policy")
    for column in ("policy", "pass@1", "passed", "tokens/problem", "USD", "GPU-s", "wall s"):
        out.add_column(column, justify="left" if column == "policy" else "right")
    for s in summaries:
        out.add_row(
            s.policy,
            f"{100 * s.pass_at_1:.1f}%",
            f"{s.passed}/{s.problems}",
            f"{s.tokens_per_problem:.0f}",
            f"{s.usd:.4f}",
            f"{s.gpu_seconds:.1f}",
            f"{s.wall_seconds:.1f}",
        )
    return out


def figures(summaries: list[PolicySummary]) -> list[tuple[str, float]]:
    """Per policy: pass@1 (%), tokens per problem, wall seconds; then each policy's pass@1
    gain over direct (points) and token ratio to direct."""
    out: list[tuple[str, float]] = []
    by_name = {s.policy: s for s in summaries}
    for s in summaries:
        key = s.policy.replace("-", "_")
        out += [
            (f"{key}_pass_at_1_pct", round(100 * s.pass_at_1, 1)),
            (f"{key}_passed", s.passed),
            (f"{key}_problems", s.problems),
            (f"{key}_tokens_per_problem", round(s.tokens_per_problem, 1)),
            (f"{key}_usd", round(s.usd, 4)),
            (f"{key}_gpu_seconds", round(s.gpu_seconds, 1)),
            (f"{key}_wall_seconds", round(s.wall_seconds, 1)),
        ]
    base = by_name.get(DIRECT)
    if base is None or not base.problems:
        return out
    for s in summaries:
        if s.policy == DIRECT:
            continue
        key = s.policy.replace("-", "_")
        out.append((f"{key}_gain_points", round(100 * (s.pass_at_1 - base.pass_at_1), 1)))
        if base.tokens_per_problem:
            ratio = s.tokens_per_problem / base.tokens_per_problem
            out.append((f"{key}_token_ratio", round(ratio, 2)))
    return out


def goals(summaries: list[PolicySummary]) -> list[tuple[str, bool]]:
    """The quality goals: single >= direct; self-consensus >= direct + 5 points at <= 3x
    direct's tokens (only those whose policies ran)."""
    by_name = {s.policy: s for s in summaries}
    base = by_name.get(DIRECT)
    if base is None or not base.problems:
        return []
    out = []
    if SINGLE in by_name:
        out.append(("goal_single_at_least_direct", by_name[SINGLE].pass_at_1 >= base.pass_at_1))
    if SELF_CONSENSUS in by_name:
        s = by_name[SELF_CONSENSUS]
        met = (
            s.pass_at_1 >= base.pass_at_1 + 0.05
            and s.tokens_per_problem <= 3 * base.tokens_per_problem
        )
        out.append(("goal_self_consensus_plus_5_at_3x_tokens", met))
    return out
