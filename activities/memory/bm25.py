"""Okapi BM25's term-frequency part as SQL: the one formula that the postings' impacts
(store.py), the pruned search's bounds and exact scores, and the full scoring
(retrieval.py) share. Migration 007's backfill spells the same formula out (migrations
are frozen as they shipped)."""

from __future__ import annotations


def term_part(tf: str, length: str, k1: str, b: str, avgdl: str) -> str:
    """tf (k1 + 1) / (tf + k1 (1 - b + b len / avgdl)) over these SQL expressions."""
    return f"{tf} * ({k1} + 1) / ({tf} + {k1} * (1 - {b} + {b} * {length} / {avgdl}))"
