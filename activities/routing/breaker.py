"""A per-provider circuit breaker: closed -> open after N failures in a window -> half-open
probe after a cool-down -> closed on success (open again on failure).

Lives in the orchestrator worker's memory (where routing runs as a local activity); the
clock is injectable so tests and the governor can drive it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    failures: int = 3
    window_seconds: float = 60.0
    cooldown_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: State = "closed"
    _recent: deque[float] = field(default_factory=deque)
    _opened_at: float = 0.0
    _probing: bool = False

    def record(self, ok: bool) -> State:
        """Fold one call's outcome in; returns the state after it."""
        now = self.clock()
        if ok:
            if self.state != "closed":
                self.state, self._probing = "closed", False
            self._recent.clear()
            return self.state
        if self.state == "half_open":
            return self._open(now)
        self._recent.append(now)
        while self._recent and now - self._recent[0] > self.window_seconds:
            self._recent.popleft()
        if self.state == "closed" and len(self._recent) >= self.failures:
            return self._open(now)
        return self.state

    def allows(self) -> bool:
        """May a call go to this provider now? Half-open lets exactly one probe through."""
        if self.state == "closed":
            return True
        if self.state == "open" and self.clock() - self._opened_at >= self.cooldown_seconds:
            self.state, self._probing = "half_open", False
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def _open(self, now: float) -> State:
        self.state, self._opened_at, self._probing = "open", now, False
        self._recent.clear()
        return self.state
