"""The budget ledger: spend per task and per phase (tokens, USD, GPU-seconds).

Pure and deterministic, so workflows hold it: a call *reserves* its worst case (counted
prompt tokens + output cap, priced) before it starts, and is *reconciled* with the
provider's reported usage when it returns; the reservation is released either way. The
totals are folded from recorded call results only, so they are exact on replay and after
a worker restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from naestro.contracts import Ledger, LedgerLine, ModelCall, RoleSummary


class BudgetExceeded(Exception):
    """A reservation does not fit what the budget has left."""


def add_line(line: LedgerLine, call: ModelCall) -> LedgerLine:
    return LedgerLine(
        calls=line.calls + 1,
        input_tokens=line.input_tokens + call.input_tokens,
        output_tokens=line.output_tokens + call.output_tokens,
        cached_input_tokens=line.cached_input_tokens + call.cached_input_tokens,
        reasoning_tokens=line.reasoning_tokens + call.reasoning_tokens,
        usd=round(line.usd + call.cost_usd, 10),
        gpu_seconds=round(line.gpu_seconds + call.gpu_seconds, 6),
    )


def fold(calls: list[ModelCall]) -> Ledger:
    """The ledger of recorded calls (no reservations)."""
    total, phases = LedgerLine(), dict[str, LedgerLine]()
    for call in calls:
        total = add_line(total, call)
        phases[call.phase] = add_line(phases.get(call.phase, LedgerLine()), call)
    return Ledger(total=total, phases=phases)


@dataclass
class Reservation:
    tokens: int
    usd: float


@dataclass
class LedgerBook:
    """A workflow's live ledger: reconciled calls plus open reservations."""

    max_tokens: int
    max_usd: float
    calls: list[ModelCall] = field(default_factory=list)
    _open: list[Reservation] = field(default_factory=list)
    _spent_tokens: int = 0
    _spent_usd: float = 0.0

    def reserve(
        self, prompt_tokens: int, max_output: int, price_in: float, price_out: float
    ) -> Reservation:
        """Hold the call's worst case; BudgetExceeded when it cannot fit."""
        tokens = prompt_tokens + max_output
        usd = (prompt_tokens * price_in + max_output * price_out) / 1e6
        held_tokens = sum(r.tokens for r in self._open)
        held_usd = sum(r.usd for r in self._open)
        if self._spent_tokens + held_tokens + prompt_tokens + 1 > self.max_tokens:
            raise BudgetExceeded(
                f"token budget: {self._spent_tokens} spent, {held_tokens} reserved"
            )
        if self._spent_usd + held_usd + prompt_tokens * price_in / 1e6 > self.max_usd:
            raise BudgetExceeded(
                f"USD budget: ${self._spent_usd:.4f} spent, ${held_usd:.4f} reserved"
            )
        reservation = Reservation(tokens, usd)
        self._open.append(reservation)
        return reservation

    def output_cap(self, prompt_tokens: int, max_output: int, price_out: float) -> int:
        """The largest output cap that keeps the budget, given open reservations."""
        held_tokens = sum(r.tokens for r in self._open)
        held_usd = sum(r.usd for r in self._open)
        cap = min(max_output, self.max_tokens - self._spent_tokens - held_tokens - prompt_tokens)
        if price_out > 0:
            cap = min(cap, int((self.max_usd - self._spent_usd - held_usd) * 1e6 / price_out))
        return cap

    def release(self, reservation: Reservation) -> None:
        self._open.remove(reservation)

    def reconcile(self, reservation: Reservation, call: ModelCall) -> None:
        self.release(reservation)
        self.calls.append(call)
        self._spent_tokens += call.input_tokens + call.output_tokens
        self._spent_usd += call.cost_usd

    def view(self) -> Ledger:
        ledger = fold(self.calls)
        return ledger.model_copy(
            update={
                "reserved_tokens": sum(r.tokens for r in self._open),
                "reserved_usd": round(sum(r.usd for r in self._open), 10),
            }
        )


def role_summaries(calls: list[ModelCall]) -> list[RoleSummary]:
    """Each role's providers (sorted), tokens, cost and latency, in order of first call."""
    out: dict[str, RoleSummary] = {}
    for c in calls:
        prev = out.get(c.role)
        if prev is None:
            out[c.role] = RoleSummary(
                role=c.role,
                providers=[c.provider],
                calls=1,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
                cost_usd=c.cost_usd,
                latency_ms=c.latency_ms,
            )
            continue
        providers = sorted({*prev.providers, c.provider})
        out[c.role] = RoleSummary(
            role=c.role,
            providers=providers,
            calls=prev.calls + 1,
            input_tokens=prev.input_tokens + c.input_tokens,
            output_tokens=prev.output_tokens + c.output_tokens,
            cost_usd=round(prev.cost_usd + c.cost_usd, 10),
            latency_ms=round(prev.latency_ms + c.latency_ms, 3),
        )
    return list(out.values())
