"""The rollout gate (naestro/gate.py) on simulated outcome streams: how often it rolls back
an equal candidate, how often it catches a 2-point drop, and how many candidate tasks that
takes, canary against shadow; then the seed rule alone, to show why the gate guards it.

Canary (unpaired): each candidate task comes with --canary-ratio baseline tasks (9: a 10%
ramp), every task passing independently at its version's rate. Shadow (paired): each
mirrored prompt draws a pass probability p from a Beta distribution with mean
--baseline-rate and concentration (a + b) --concentration; the baseline passes with p, the
candidate with max(0, p - drop), independently given p, so easy prompts pass on both (for
equal versions the two outcomes correlate at 1 / (1 + concentration)); the baseline arm is
the mirrored prompts' baseline answers. The real `decide` runs at every look on the
cumulative counts. "Tasks" are candidate tasks. The search scales the rule with min_tasks
(look_every = min_tasks / 4, max_tasks = 4 x min_tasks). Seeded: the same arguments print
the same figures.

    .venv/bin/python bench/rollout.py [--trials 1000] [--seed 7] [--baseline-rate 0.8]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from naestro.contracts import ArmStats, GateRule, PairStats
from naestro.gate import decide, pass_delta

CHUNK = 25  # candidate tasks per simulated step; every look_every below is a multiple of it
DROP = 0.02
DETECT = 0.95
GRID = range(100, 10_001, 100)  # min_tasks; look_every = min_tasks / 4, max_tasks = 4x
SEED_RULE_N = 800

Counts = tuple[int, int, int, int]
Stats = tuple[ArmStats, ArmStats, PairStats | None]


@dataclass(frozen=True)
class Mode:
    name: str
    step: Callable[[random.Random, argparse.Namespace, float], Counts]  # rng, args, drop
    view: Callable[[Counts, int, argparse.Namespace], Stats]


def canary_step(rng: random.Random, args: argparse.Namespace, drop: float) -> Counts:
    rate = args.baseline_rate
    base = sum(1 for _ in range(args.canary_ratio * CHUNK) if rng.random() < rate)
    cand = sum(1 for _ in range(CHUNK) if rng.random() < rate - drop)
    return base, cand, 0, 0


def canary_view(counts: Counts, n: int, args: argparse.Namespace) -> Stats:
    baseline = ArmStats(n=args.canary_ratio * n, passes=counts[0])
    return baseline, ArmStats(n=n, passes=counts[1]), None


def shadow_step(rng: random.Random, args: argparse.Namespace, drop: float) -> Counts:
    a, b = args.baseline_rate * args.concentration, (1 - args.baseline_rate) * args.concentration
    cells = [0, 0, 0, 0]  # both pass, baseline only, candidate only, neither
    for _ in range(CHUNK):
        p = rng.betavariate(a, b)
        base = rng.random() < p
        cand = rng.random() < max(0.0, p - drop)
        cells[2 * (not base) + (not cand)] += 1
    return cells[0], cells[1], cells[2], cells[3]


def shadow_view(counts: Counts, n: int, _: argparse.Namespace) -> Stats:
    both, base_only, cand_only, neither = counts
    pairs = PairStats(
        n=n, both_pass=both, baseline_only=base_only, candidate_only=cand_only, neither=neither
    )
    baseline, candidate = (
        ArmStats(n=n, passes=both + base_only),
        ArmStats(n=n, passes=both + cand_only),
    )
    return baseline, candidate, pairs


CANARY = Mode("canary", canary_step, canary_view)
SHADOW = Mode("shadow", shadow_step, shadow_view)


class Stream:
    """One trial's cumulative counts, simulated CHUNK candidate tasks at a time, on demand
    (so one stream serves every rule of the search)."""

    def __init__(self, mode: Mode, rng: random.Random, args: argparse.Namespace, drop: float):
        self.mode, self.rng, self.args, self.drop = mode, rng, args, drop
        self.totals: list[Counts] = [(0, 0, 0, 0)]

    def at(self, n: int) -> Stats:
        while len(self.totals) <= n // CHUNK:
            step = self.mode.step(self.rng, self.args, self.drop)
            last = self.totals[-1]
            self.totals.append(
                (last[0] + step[0], last[1] + step[1], last[2] + step[2], last[3] + step[3])
            )
        return self.mode.view(self.totals[n // CHUNK], n, self.args)


def streams(mode: Mode, args: argparse.Namespace, drop: float, tag: str) -> list[Stream]:
    rng = random.Random(f"{args.seed}-{mode.name}-{tag}")
    return [Stream(mode, rng, args, drop) for _ in range(args.trials)]


def run_gate(rule: GateRule, stream: Stream) -> tuple[str, int]:
    """The gate look by look until it decides: its action and the candidate tasks used."""
    looks = 0
    while True:
        n = (looks + 1) * rule.look_every
        decision = decide(rule, *stream.at(n), looks)
        if decision.action != "continue":
            return decision.action, n
        looks = decision.look


def outcomes(rule: GateRule, trials: list[Stream]) -> tuple[dict[str, float], float]:
    """Share of each action over the trials, and the mean tasks to a decision."""
    runs = [run_gate(rule, s) for s in trials]
    actions = ("rollback", "promote", "inconclusive")
    shares = {a: sum(r[0] == a for r in runs) / len(runs) for a in actions}
    return shares, statistics.fmean(r[1] for r in runs)


def default_rule(mode: Mode, args: argparse.Namespace) -> list[tuple[str, float]]:
    rule = GateRule()
    equal, equal_tasks = outcomes(rule, streams(mode, args, 0.0, "equal"))
    worse, worse_tasks = outcomes(rule, streams(mode, args, DROP, "drop"))
    m = mode.name
    return [
        (f"{m}_equal_false_rollback_rate", equal["rollback"]),
        (f"{m}_equal_promote_rate", equal["promote"]),
        (f"{m}_equal_inconclusive_rate", equal["inconclusive"]),
        (f"{m}_equal_mean_tasks", equal_tasks),
        (f"{m}_drop2_rollback_rate", worse["rollback"]),
        (f"{m}_drop2_wrongful_promote_rate", worse["promote"]),
        (f"{m}_drop2_inconclusive_rate", worse["inconclusive"]),
        (f"{m}_drop2_mean_tasks", worse_tasks),
    ]


def scaled_rule(min_tasks: int) -> GateRule:
    return GateRule(min_tasks=min_tasks, look_every=min_tasks // 4, max_tasks=4 * min_tasks)


def tasks_to_detect(mode: Mode, args: argparse.Namespace) -> tuple[int | None, float]:
    """The smallest min_tasks on the grid whose gate rolls back >= 95% of 2-point drops, and
    its false rollback rate on equal versions (None, nan when the grid holds none)."""
    trials = streams(mode, args, DROP, "detect")
    for min_tasks in GRID:
        shares, _ = outcomes(scaled_rule(min_tasks), trials)
        if shares["rollback"] >= DETECT:
            equal, _ = outcomes(scaled_rule(min_tasks), streams(mode, args, 0.0, "detect-equal"))
            return min_tasks, equal["rollback"]
    return None, float("nan")


def seed_rule(mode: Mode, args: argparse.Namespace) -> float:
    """The seed rule alone on equal versions: roll back unless delta > -0.0001 at n = 800."""
    rolled = 0
    for stream in streams(mode, args, 0.0, "seed"):
        delta, _ = pass_delta(*stream.at(SEED_RULE_N))
        rolled += delta is None or delta <= GateRule().promote_delta
    return rolled / args.trials


def emit(name: str, value: float | int | None) -> None:
    shown = "nan" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}"
    print(f"{name} {shown}", flush=True)


def main(args: argparse.Namespace) -> None:
    for mode in (CANARY, SHADOW):
        for name, value in default_rule(mode, args):
            emit(name, value)
    needed: dict[str, int | None] = {}
    for mode in (CANARY, SHADOW):
        needed[mode.name], false_rate = tasks_to_detect(mode, args)
        emit(f"{mode.name}_tasks_to_detect_2pt_drop_95", needed[mode.name])
        emit(f"{mode.name}_false_rollback_rate_at_detect", false_rate)
    for mode in (CANARY, SHADOW):
        emit(f"seed_rule_{mode.name}_false_rollback_rate", seed_rule(mode, args))
    canary, shadow = needed["canary"], needed["shadow"]
    emit("shadow_vs_canary_tasks_ratio", canary / shadow if canary and shadow else float("nan"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-rate", type=float, default=0.8)
    parser.add_argument("--concentration", type=float, default=1.0, help="shadow: the Beta's a+b")
    parser.add_argument(
        "--canary-ratio", type=int, default=9, help="canary: baseline tasks per candidate task"
    )
    main(parser.parse_args())
