"""The budget ledger: spend per task and per phase (tokens, USD, GPU-seconds).

Pure and deterministic, so workflows hold it: a call *reserves* its worst case (counted
prompt tokens + output cap, priced) before it starts, and is *reconciled* with the
provider's reported usage when it returns; the reservation is released either way. The
totals are folded from recorded call results only, so they are exact on replay and after
a worker restart.
"""

from __future__ import annotations

import math
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
    gpu_seconds: float = 0.0
    output_cap: int = 0  # the reply's token cap that keeps the budget


@dataclass
class LedgerBook:
    """A workflow's live ledger: reconciled calls plus open reservations.

    Limits: tokens (input + output), USD, and GPU-seconds (None: unlimited). A call holds
    its worst case while it runs, so concurrent calls (proposers, critics) cannot together
    overshoot what is left."""

    max_tokens: int
    max_usd: float
    max_gpu_seconds: float | None = None
    calls: list[ModelCall] = field(default_factory=list)
    _open: list[Reservation] = field(default_factory=list)
    _spent_tokens: int = 0
    _spent_usd: float = 0.0
    _spent_gpu: float = 0.0

    def _held(self) -> tuple[int, float, float]:
        return (
            sum(r.tokens for r in self._open),
            sum(r.usd for r in self._open),
            sum(r.gpu_seconds for r in self._open),
        )

    @property
    def spent_usd(self) -> float:
        """What the reconciled calls cost, summed in call order (as Spend.add does)."""
        return self._spent_usd

    def tokens_left(self) -> int:
        return self.max_tokens - self._spent_tokens - self._held()[0]

    def usd_left(self) -> float:
        return self.max_usd - self._spent_usd - self._held()[1]

    def gpu_seconds_left(self) -> float | None:
        if self.max_gpu_seconds is None:
            return None
        return self.max_gpu_seconds - self._spent_gpu - self._held()[2]

    def output_cap(
        self, prompt_tokens: int, max_output: int, price_out: float, price_in: float = 0.0
    ) -> int:
        """The largest output cap that keeps the budget, given open reservations: what is
        left once the prompt is paid for (its tokens, and its input price)."""
        cap = min(max_output, self.tokens_left() - prompt_tokens)
        if price_out > 0:
            usd_for_output = self.usd_left() * 1e6 - prompt_tokens * price_in
            cap = min(cap, math.floor(usd_for_output / price_out))
        return cap

    def reserve(
        self,
        prompt_tokens: int,
        max_output: int,
        price_in: float,
        price_out: float,
        gpu_seconds: float = 0.0,
    ) -> Reservation:
        """Hold the call's worst case (prompt + capped reply, priced, and its GPU-seconds);
        BudgetExceeded, naming what ran out, when not even a one-token reply fits."""
        cap = self.output_cap(prompt_tokens, max_output, price_out, price_in)
        if cap < 1:
            raise BudgetExceeded(
                self._exhausted("token" if self._short_of_tokens(prompt_tokens) else "USD")
            )
        if self.usd_left() < (prompt_tokens * price_in + price_out) / 1e6:
            raise BudgetExceeded(self._exhausted("USD"))
        gpu_left = self.gpu_seconds_left()
        if gpu_left is not None and gpu_seconds > gpu_left:
            raise BudgetExceeded(self._exhausted("GPU-seconds"))
        usd = (prompt_tokens * price_in + cap * price_out) / 1e6
        reservation = Reservation(prompt_tokens + cap, usd, gpu_seconds, cap)
        self._open.append(reservation)
        return reservation

    def hold(self, tokens: int, usd: float, gpu_seconds: float = 0.0) -> Reservation:
        """Set aside a share of what is left for spending elsewhere (a child task's budget),
        so this workflow's own calls meanwhile cannot spend it; ``release`` it and
        ``absorb`` what was spent when the child ends."""
        reservation = Reservation(tokens, usd, gpu_seconds)
        self._open.append(reservation)
        return reservation

    def _short_of_tokens(self, prompt_tokens: int) -> bool:
        return self.tokens_left() - prompt_tokens < 1

    def _exhausted(self, what: str) -> str:
        held = self._held()
        return (
            f"{what} budget: {self._spent_tokens} tokens, ${self._spent_usd:.4f}, "
            f"{self._spent_gpu:.1f} GPU-s spent; {held[0]} tokens, ${held[1]:.4f} reserved"
        )

    def release(self, reservation: Reservation) -> None:
        self._open.remove(reservation)

    def reconcile(self, reservation: Reservation, call: ModelCall) -> None:
        self.release(reservation)
        self.absorb([call])

    def absorb(self, calls: list[ModelCall]) -> None:
        """Book calls made elsewhere (a child workflow's) or reconciled here."""
        for call in calls:
            self.calls.append(call)
            self._spent_tokens += call.input_tokens + call.output_tokens
            self._spent_usd += call.cost_usd
            self._spent_gpu += call.gpu_seconds

    def view(self) -> Ledger:
        ledger = fold(self.calls)
        held = self._held()
        return ledger.model_copy(
            update={"reserved_tokens": held[0], "reserved_usd": round(held[1], 10)}
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
