"""The governor: live per-provider health that routing reads and metrics report.

Per provider it keeps exponential moving averages of latency, error rate, output tokens
per second and cost per call, a window of recent latencies (for the p95 the latency
fallback compares with ``latency_limit_ms``) and a circuit breaker. Outcomes arrive from
workflows with their next routing decision (a local activity on the orchestrator worker).

In dry-run mode it logs what it would change (route around an open breaker or a slow
provider) and changes nothing: routing then sees every provider as healthy.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from activities.routing.breaker import CircuitBreaker
from naestro.config.settings import GovernorConfig, Settings
from naestro.contracts import CallOutcome

log = logging.getLogger(__name__)

SEEN_KEYS = 50_000  # outcome keys remembered (a retried workflow task is recent)


@dataclass
class ProviderHealth:
    latency_ms: float | None = None
    error_rate: float = 0.0
    tokens_per_s: float | None = None
    cost_usd: float | None = None
    calls: int = 0
    failures: int = 0
    recent_latency: deque[float] = field(default_factory=deque)

    def p95(self) -> float | None:
        if not self.recent_latency:
            return None
        ordered = sorted(self.recent_latency)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _ema(old: float | None, new: float, alpha: float) -> float:
    return new if old is None else alpha * new + (1 - alpha) * old


class Governor:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.config: GovernorConfig = settings.governor
        self._limits = {p.id: p.latency_limit_ms for p in settings.providers}
        self._clock = clock
        self._health: dict[str, ProviderHealth] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._slow_since: dict[str, float] = {}
        self._seen_keys: set[str] = set()
        self._seen_order: deque[str] = deque()

    def health(self, provider_id: str) -> ProviderHealth:
        return self._health.setdefault(provider_id, ProviderHealth())

    def breaker(self, provider_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(provider_id)
        if breaker is None:
            c = self.config
            breaker = CircuitBreaker(
                c.breaker_failures,
                c.breaker_window_seconds,
                c.breaker_cooldown_seconds,
                clock=self._clock,
            )
            self._breakers[provider_id] = breaker
        return breaker

    def observe(self, outcome: CallOutcome) -> None:
        if outcome.key:
            if outcome.key in self._seen_keys:
                return  # handed over again (a retried workflow task): counted already
            self._seen_keys.add(outcome.key)
            self._seen_order.append(outcome.key)
            if len(self._seen_order) > SEEN_KEYS:
                self._seen_keys.discard(self._seen_order.popleft())
        h, a = self.health(outcome.provider_id), self.config.ema_alpha
        h.calls += 1
        h.error_rate = _ema(h.error_rate if h.calls > 1 else None, 0.0 if outcome.ok else 1.0, a)
        before = self.breaker(outcome.provider_id).state
        after = self.breaker(outcome.provider_id).record(outcome.ok)
        if after != before:
            log.warning(
                "governor: provider %s breaker %s -> %s", outcome.provider_id, before, after
            )
        if not outcome.ok:
            h.failures += 1
            return
        h.latency_ms = _ema(h.latency_ms, outcome.latency_ms, a)
        h.cost_usd = _ema(h.cost_usd, outcome.cost_usd, a)
        if outcome.latency_ms > 0:
            h.tokens_per_s = _ema(
                h.tokens_per_s, outcome.output_tokens / (outcome.latency_ms / 1e3), a
            )
        h.recent_latency.append(outcome.latency_ms)
        while len(h.recent_latency) > self.config.latency_window:
            h.recent_latency.popleft()

    def blocked(self, provider_id: str) -> str | None:
        """Why routing should skip this provider now (None: use it)."""
        reason = self._why(provider_id)
        if reason is not None and self.config.dry_run:
            log.info("governor (dry run): would route around %s: %s", provider_id, reason)
            return None
        return reason

    def _why(self, provider_id: str) -> str | None:
        if not self.breaker(provider_id).allows():
            return "circuit open"
        limit = self._limits.get(provider_id)
        h = self.health(provider_id)
        p95 = h.p95()
        enough = len(h.recent_latency) >= self.config.min_latency_samples
        if not (limit and p95 is not None and enough and p95 > limit):
            self._slow_since.pop(provider_id, None)
            return None
        now = self._clock()
        since = self._slow_since.setdefault(provider_id, now)
        if now - since >= self.config.breaker_cooldown_seconds:
            # Skipped providers report no new latencies: forget the old ones and let the
            # next calls measure it afresh.
            h.recent_latency.clear()
            del self._slow_since[provider_id]
            return None
        return f"p95 latency {p95:.0f} ms above its {limit:.0f} ms limit"

    def snapshot(self) -> dict[str, dict[str, float | int | str | None]]:
        """Metrics per provider (for logs, the API and dashboards)."""
        return {
            pid: {
                "latency_ms_ema": h.latency_ms,
                "error_rate_ema": h.error_rate,
                "tokens_per_s_ema": h.tokens_per_s,
                "cost_usd_ema": h.cost_usd,
                "p95_latency_ms": h.p95(),
                "calls": h.calls,
                "breaker": self.breaker(pid).state,
            }
            for pid, h in sorted(self._health.items())
        }
