"""Rank fusion and boosts: pure functions over the two legs' ranked lists.

* RRF: ``score(d) = sum over legs of 1 / (rrf_k + rank_leg(d))`` (rank from 1).
* weighted: each leg's scores are min-max normalised to [0, 1] over its own top-k, then
  ``vector_weight * vector + (1 - vector_weight) * bm25`` (a leg that missed d gives 0).
* boost: ``clamp(feedback_boost * (approvals - rejections), -cap, cap)``, plus
  ``verified_boost`` for an answer whose verification passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Ranked = Sequence[tuple[int, float]]  # (chunk id, leg score), best first


@dataclass
class Fused:
    chunk_id: int
    score: float
    bm25: float | None = None
    bm25_rank: int | None = None
    vector: float | None = None
    vector_rank: int | None = None
    boost: float = 0.0


def _collect(bm25: Ranked, vector: Ranked) -> dict[int, Fused]:
    out: dict[int, Fused] = {}
    for rank, (cid, score) in enumerate(bm25, 1):
        out.setdefault(cid, Fused(cid, 0.0)).bm25, out[cid].bm25_rank = score, rank
    for rank, (cid, score) in enumerate(vector, 1):
        out.setdefault(cid, Fused(cid, 0.0)).vector, out[cid].vector_rank = score, rank
    return out


def rrf(bm25: Ranked, vector: Ranked, k: int = 60) -> list[Fused]:
    fused = _collect(bm25, vector)
    for f in fused.values():
        f.score = sum(1.0 / (k + r) for r in (f.bm25_rank, f.vector_rank) if r is not None)
    return ordered(fused.values())


def _normalise(leg: Ranked) -> dict[int, float]:
    if not leg:
        return {}
    scores = [s for _, s in leg]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {cid: (s - lo) / span if span > 0 else 1.0 for cid, s in leg}


def weighted(bm25: Ranked, vector: Ranked, vector_weight: float = 0.5) -> list[Fused]:
    fused = _collect(bm25, vector)
    nb, nv = _normalise(bm25), _normalise(vector)
    for cid, f in fused.items():
        f.score = vector_weight * nv.get(cid, 0.0) + (1 - vector_weight) * nb.get(cid, 0.0)
    return ordered(fused.values())


def boost(
    approvals: int,
    rejections: int,
    verified: bool | None,
    *,
    per_use: float,
    cap: float,
    verified_boost: float,
) -> float:
    feedback = max(-cap, min(cap, per_use * (approvals - rejections)))
    return feedback + (verified_boost if verified else 0.0)


def ordered(items: Iterable[Fused]) -> list[Fused]:
    """Best first; ties broken by chunk id so results are stable."""
    return sorted(items, key=lambda f: (-f.score, f.chunk_id))
