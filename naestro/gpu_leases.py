"""The GPU pool's lease book: who holds which device, who waits, and who must yield.

Pure and deterministic (no clock, no I/O): every call takes ``now`` (seconds, the pool's
clock: ``workflow.time()`` in GpuPoolWorkflow, a simulated clock in bench/gpu_slots.py), so
the coordinator's decisions replay from its history.

Rules, applied by ``schedule(now)`` in this order:

1. a holder or waiter not renewed within its ``ttl_seconds`` ends ``expired``;
2. a holder asked to yield (``preempt``) that is still here at its ``yield_by`` ends
   ``revoked``;
3. waiters are considered in rank order (priority 1 first, then arrival): one is granted
   when none of its devices is held and no higher-ranked waiter still waiting wants any of
   them (so a small request never starves a large one ranked before it);
4. a waiter left waiting on a device held by a strictly lower-priority holder marks that
   holder ``preempt`` (``preempted_by``, ``yield_by = now + grace``); marks are recomputed
   each time, so one is cleared when no higher-priority waiter needs the device any more
   (its deadline is kept while the mark stands).

Every grant takes the next ``fence``: a holder that lost its lease and did not notice holds
a lower one than whoever has the devices now.
"""

from __future__ import annotations

from dataclasses import dataclass

from naestro.contracts.gpu import (
    HELD,
    LeaseBookSnapshot,
    LeaseRecord,
    LeaseRequest,
    LeaseState,
    LeaseStatus,
)

# How many ended holders are remembered (a late watch or release learns how it ended).
ENDED_KEPT = 256


@dataclass
class _Lease:
    request: LeaseRequest
    status: LeaseStatus
    seq: int
    seen: float
    fence: int = 0
    preempted_by: str | None = None
    yield_by: float | None = None

    @property
    def rank(self) -> tuple[int, int]:
        return (self.request.priority, self.seq)

    def state(self, detail: str = "") -> LeaseState:
        r = self.request
        return LeaseState(
            holder=r.holder,
            status=self.status,
            devices=list(r.devices),
            priority=r.priority,
            purpose=r.purpose,
            fence=self.fence,
            preempted_by=self.preempted_by,
            yield_by=self.yield_by,
            detail=detail,
        )


class LeaseBook:
    def __init__(self, grace_seconds: float, *, preempt: bool = True) -> None:
        self.grace_seconds = grace_seconds
        self.preempt = preempt  # False: never ask a holder to yield (bench baseline)
        self._leases: dict[str, _Lease] = {}
        self._ended: dict[str, LeaseState] = {}
        self.fence = 0
        self._seq = 0
        self.grants = 0
        self.preemptions = 0
        self.expired = 0
        self.revoked = 0

    # ------------------------------------------------------------ holders' calls

    def acquire(self, request: LeaseRequest, now: float) -> LeaseState:
        """Queue a new holder, or renew one already queued or holding (its place kept)."""
        lease = self._leases.get(request.holder)
        if lease is None:
            self._ended.pop(request.holder, None)
            self._seq += 1
            lease = _Lease(request=request, status="queued", seq=self._seq, seen=now)
            self._leases[request.holder] = lease
        else:
            lease.seen = now
        return lease.state()

    def watch(self, holder: str, now: float) -> LeaseState:
        """Renew a holder (queued or holding); an unknown one learns how it ended."""
        lease = self._leases.get(holder)
        if lease is None:
            return self.state(holder)
        lease.seen = now
        return lease.state()

    def release(self, holder: str, now: float) -> LeaseState:
        """The holder is done (or gives up its place in the queue)."""
        lease = self._leases.pop(holder, None)
        if lease is None:
            return self.state(holder)
        lease.status = "released"
        return self._end(lease, f"released at {now:.3f}")

    def state(self, holder: str) -> LeaseState:
        lease = self._leases.get(holder)
        if lease is not None:
            return lease.state()
        ended = self._ended.get(holder)
        if ended is not None:
            return ended
        return LeaseState(holder=holder, status="expired", detail="unknown to the pool")

    def holders(self, devices: list[str]) -> list[str]:
        """Who holds any of these devices now."""
        wanted = set(devices)
        return [
            h
            for h, lease in self._leases.items()
            if lease.status in HELD and wanted & set(lease.request.devices)
        ]

    # ------------------------------------------------------------ the rules

    def schedule(self, now: float) -> None:
        self._expire(now)
        self._revoke(now)
        demands = self._grant(now)
        self._mark(demands, now)

    def _expire(self, now: float) -> None:
        for lease in list(self._leases.values()):
            ttl = lease.request.ttl_seconds
            if now - lease.seen >= ttl:
                del self._leases[lease.request.holder]
                lease.status = "expired"
                self.expired += 1
                self._end(lease, f"not renewed within {ttl:g}s")

    def _revoke(self, now: float) -> None:
        for lease in list(self._leases.values()):
            if lease.status == "preempt" and lease.yield_by is not None and lease.yield_by <= now:
                del self._leases[lease.request.holder]
                lease.status = "revoked"
                self.revoked += 1
                self._end(lease, f"did not yield to {lease.preempted_by} in time")

    def _grant(self, now: float) -> dict[str, _Lease]:
        """Grant waiters in rank order; return the holders that a waiter left waiting
        outranks (holder -> the highest-ranked such waiter)."""
        held = {
            d: lease
            for lease in self._leases.values()
            if lease.status in HELD
            for d in lease.request.devices
        }
        wanted: set[str] = set()  # devices a higher-ranked waiter still waits for
        demands: dict[str, _Lease] = {}
        for waiter in self._waiters():
            devices = waiter.request.devices
            if not any(d in held or d in wanted for d in devices):
                self.fence += 1
                self.grants += 1
                waiter.status, waiter.fence, waiter.seen = "granted", self.fence, now
                held.update(dict.fromkeys(devices, waiter))
                continue
            wanted.update(devices)
            for d in devices:
                holder = held.get(d)
                if (
                    holder is not None
                    and holder.request.preemptible
                    and holder.request.priority > waiter.request.priority
                ):
                    demands.setdefault(holder.request.holder, waiter)
        return demands

    def _mark(self, demands: dict[str, _Lease], now: float) -> None:
        for holder, lease in self._leases.items():
            waiter = demands.get(holder) if self.preempt else None
            if lease.status == "granted" and waiter is not None:
                lease.status = "preempt"
                lease.yield_by = now + self.grace_seconds
                self.preemptions += 1
            elif lease.status == "preempt" and waiter is None:
                lease.status, lease.yield_by = "granted", None
            if lease.status in HELD:
                lease.preempted_by = waiter.request.holder if waiter is not None else None

    def next_deadline(self, now: float) -> float | None:
        """The earliest moment ``schedule`` has something to do without a call: an expiry
        or a yield deadline (None: nobody here)."""
        times = [lease.seen + lease.request.ttl_seconds for lease in self._leases.values()]
        times += [lease.yield_by for lease in self._leases.values() if lease.yield_by is not None]
        return min(times) if times else None

    # ------------------------------------------------------------ views

    def leases(self) -> list[LeaseState]:
        """Holders, by fence (oldest grant first)."""
        held = [lease for lease in self._leases.values() if lease.status in HELD]
        return [lease.state() for lease in sorted(held, key=lambda lease: lease.fence)]

    def queue(self) -> list[LeaseState]:
        """Waiters in rank order, each saying who holds what it waits for."""
        out = []
        for position, waiter in enumerate(self._waiters(), 1):
            blockers = self.holders(waiter.request.devices)
            behind = f"; held by {', '.join(blockers)}" if blockers else ""
            out.append(waiter.state(f"#{position} in queue{behind}"))
        return out

    def snapshot(self) -> LeaseBookSnapshot:
        return LeaseBookSnapshot(
            records=[
                LeaseRecord(
                    request=lease.request,
                    status=lease.status,
                    seq=lease.seq,
                    seen=lease.seen,
                    fence=lease.fence,
                    preempted_by=lease.preempted_by,
                    yield_by=lease.yield_by,
                )
                for lease in self._leases.values()
            ],
            ended=list(self._ended.values()),
            fence=self.fence,
            seq=self._seq,
            grants=self.grants,
            preemptions=self.preemptions,
            expired=self.expired,
            revoked=self.revoked,
        )

    @classmethod
    def restore(
        cls, snapshot: LeaseBookSnapshot, grace_seconds: float, *, preempt: bool = True
    ) -> LeaseBook:
        book = cls(grace_seconds, preempt=preempt)
        for r in snapshot.records:
            book._leases[r.request.holder] = _Lease(
                request=r.request,
                status=r.status,
                seq=r.seq,
                seen=r.seen,
                fence=r.fence,
                preempted_by=r.preempted_by,
                yield_by=r.yield_by,
            )
        book._ended = {s.holder: s for s in snapshot.ended}
        book.fence, book._seq = snapshot.fence, snapshot.seq
        book.grants, book.preemptions = snapshot.grants, snapshot.preemptions
        book.expired, book.revoked = snapshot.expired, snapshot.revoked
        return book

    # ------------------------------------------------------------ plumbing

    def _waiters(self) -> list[_Lease]:
        queued = (lease for lease in self._leases.values() if lease.status == "queued")
        return sorted(queued, key=lambda lease: lease.rank)

    def _end(self, lease: _Lease, detail: str) -> LeaseState:
        state = lease.state(detail)
        self._ended.pop(lease.request.holder, None)
        self._ended[lease.request.holder] = state
        while len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        return state
