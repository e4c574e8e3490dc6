"""How sure a result is: proposer agreement, critic scores, the judge and verification.

Pure (workflows import it). The formula, also in docs/consensus.md::

    A = size of the largest group of agreeing proposals / number of proposals
    C = the mean critic score of the chosen proposal: mean over critics of
        (mean of its criterion scores) x (1 - severity penalty), penalty = 0.05 per low,
        0.1 per medium, 0.25 per high, 0.5 per critical issue, capped at 1
    J = the judge's score (0..1)
    V = 1 when verification passed, else the fraction of tests passing
    confidence = sum(w_k * x_k) / sum(w_k) over the components present
                 (weights: agreement 0.2, critics 0.25, judge 0.35, verification 0.2),
                 then halved when the judge's verdict is "reject"
"""

from __future__ import annotations

import re

from naestro.contracts import (
    ConfidenceWeights,
    ConsensusSummary,
    Critique,
    JudgeVerdict,
    VerificationReport,
)

SEVERITY_PENALTY = {"low": 0.05, "medium": 0.1, "high": 0.25, "critical": 0.5}
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Equality up to case, whitespace and a trailing full stop."""
    return _SPACE.sub(" ", text).strip().rstrip(".").casefold()


def agreement_groups(proposals: list[str]) -> list[list[int]]:
    """Indices of proposals grouped by normalised equality, largest group first."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(proposals):
        groups.setdefault(normalise(text), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def agreement(proposals: list[str]) -> float:
    if not proposals:
        return 0.0
    return len(agreement_groups(proposals)[0]) / len(proposals)


def proposal_scores(critiques: list[Critique], proposals: int) -> list[float | None]:
    """Per proposal, the mean over critics of its penalised criterion score."""
    sums, counts = [0.0] * proposals, [0] * proposals
    for critique in critiques:
        for review in critique.reviews:
            i = review.proposal - 1
            if not 0 <= i < proposals or not review.scores:
                continue
            mean = sum(min(max(s, 0.0), 1.0) for s in review.scores.values()) / len(review.scores)
            penalty = min(1.0, sum(SEVERITY_PENALTY[x.severity] for x in review.issues))
            sums[i] += mean * (1 - penalty)
            counts[i] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]


def verification_score(report: VerificationReport | None) -> float | None:
    if report is None:
        return None
    if report.passed:
        return 1.0
    if not report.tests:
        return 0.0
    return sum(t.outcome == "passed" for t in report.tests) / len(report.tests)


def components(
    agreement_score: float | None,
    critic_score: float | None,
    verdict: JudgeVerdict | None,
    report: VerificationReport | None,
) -> dict[str, float]:
    found = {
        "agreement": agreement_score,
        "critics": critic_score,
        "judge": verdict.score if verdict is not None else None,
        "verification": verification_score(report),
    }
    return {k: round(v, 6) for k, v in found.items() if v is not None}


def confidence(
    parts: dict[str, float], weights: ConfidenceWeights, verdict: JudgeVerdict | None
) -> float:
    w: dict[str, float] = {k: float(v) for k, v in weights.model_dump().items()}
    total = sum(w[k] for k in parts)
    if total <= 0:
        return 0.0
    value = sum(w[k] * v for k, v in parts.items()) / total
    if verdict is not None and verdict.verdict == "reject":
        value /= 2
    return round(min(max(value, 0.0), 1.0), 6)


def final_confidence(
    summary: ConsensusSummary | None,
    verdict: JudgeVerdict | None,
    report: VerificationReport | None,
    weights: ConfidenceWeights,
) -> float | None:
    """A task's confidence: the consensus's agreement and critic scores (when it
    deliberated), the final judge verdict and the final verification."""
    parts = dict(summary.components) if summary is not None else {}
    parts.pop("judge", None)
    if verdict is None and summary is not None and "judge" in summary.components:
        parts["judge"] = summary.components["judge"]
    parts.update(components(None, None, verdict, report))
    if not parts:
        return None
    return confidence(parts, weights, verdict)
