"""The budget ledger's views: per-phase lines, the ledger and per-role summaries."""

from __future__ import annotations

from naestro.contracts.base import Frozen


class LedgerLine(Frozen):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float = 0.0
    gpu_seconds: float = 0.0


class Ledger(Frozen):
    """Spend per task and per phase; reserved is what in-flight calls may still spend."""

    total: LedgerLine = LedgerLine()
    phases: dict[str, LedgerLine] = {}
    reserved_tokens: int = 0
    reserved_usd: float = 0.0


class RoleSummary(Frozen):
    role: str
    providers: list[str]
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float  # summed over the role's calls
