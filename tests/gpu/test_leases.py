"""The lease book's rules (naestro/gpu_leases.py), on a clock the test moves."""

from __future__ import annotations

from naestro.contracts.gpu import LeaseBookSnapshot, LeaseRequest
from naestro.gpu_leases import LeaseBook

GRACE = 10.0


def req(holder: str, *devices: str, priority: int = 3, ttl: float = 30.0) -> LeaseRequest:
    return LeaseRequest(
        holder=holder,
        devices=list(devices or ["0"]),
        priority=priority,
        ttl_seconds=ttl,
        wait_seconds=1.0,
    )


def book_with(*requests: LeaseRequest, now: float = 0.0, preempt: bool = True) -> LeaseBook:
    book = LeaseBook(GRACE, preempt=preempt)
    for r in requests:
        book.acquire(r, now)
        book.schedule(now)
    return book


def status(book: LeaseBook, holder: str) -> str:
    return book.state(holder).status


def test_first_come_first_served_within_a_priority() -> None:
    book = book_with(req("a"), req("b"), req("c"))
    assert [status(book, h) for h in "abc"] == ["granted", "queued", "queued"]
    assert [s.holder for s in book.queue()] == ["b", "c"]
    book.release("a", 1.0)
    book.schedule(1.0)
    assert [status(book, h) for h in "abc"] == ["released", "granted", "queued"]


def test_higher_priority_is_granted_first() -> None:
    book = book_with(req("holder"), req("low", priority=5), req("high", priority=1))
    assert [s.holder for s in book.queue()] == ["high", "low"]
    book.release("holder", 1.0)
    book.schedule(1.0)
    assert status(book, "high") == "granted"
    assert status(book, "low") == "queued"


def test_devices_are_held_exclusively_and_a_large_request_is_not_starved() -> None:
    book = book_with(req("a", "0"), req("b", "1"), req("both", "0", "1"), req("c", "1"))
    assert status(book, "both") == "queued"
    book.release("b", 1.0)
    book.schedule(1.0)
    # Device 1 is free, but "both" was first and still waits for it: "c" must not take it.
    assert status(book, "c") == "queued"
    book.release("a", 2.0)
    book.schedule(2.0)
    assert status(book, "both") == "granted"
    assert status(book, "c") == "queued"
    assert [s.holder for s in book.leases()] == ["both"]


def test_disjoint_devices_are_granted_together() -> None:
    book = book_with(req("a", "0"), req("b", "1"), req("m", "MIG-x"))
    assert {s.holder for s in book.leases()} == {"a", "b", "m"}


def test_a_higher_priority_waiter_marks_a_lower_priority_holder_and_the_mark_clears() -> None:
    book = book_with(req("bg", priority=5), req("same", priority=5), now=0.0)
    assert status(book, "bg") == "granted"  # an equal priority does not preempt
    book.acquire(req("fg", priority=1), 1.0)
    book.schedule(1.0)
    state = book.state("bg")
    assert (state.status, state.preempted_by, state.yield_by) == ("preempt", "fg", 1.0 + GRACE)
    assert book.preemptions == 1
    book.schedule(2.0)  # recomputed: still needed, deadline kept, counted once
    assert book.state("bg").yield_by == 1.0 + GRACE
    assert book.preemptions == 1
    book.release("fg", 3.0)  # the foreground waiter gave up
    book.schedule(3.0)
    state = book.state("bg")
    assert (state.status, state.preempted_by, state.yield_by) == ("granted", None, None)


def test_a_preempted_holder_that_yields_hands_its_device_to_the_waiter() -> None:
    book = book_with(req("bg", priority=5), req("fg", priority=1))
    assert status(book, "bg") == "preempt"
    book.release("bg", 2.0)
    book.schedule(2.0)
    assert status(book, "fg") == "granted"
    assert status(book, "bg") == "released"


def test_a_holder_that_does_not_yield_is_revoked_at_its_deadline() -> None:
    book = book_with(req("bg", priority=5), req("fg", priority=1, ttl=60), now=0.0)
    assert book.next_deadline(0.0) == GRACE
    book.watch("bg", 5.0)
    book.watch("fg", 5.0)
    book.schedule(GRACE - 0.01)
    assert status(book, "bg") == "preempt"
    book.schedule(GRACE)
    assert status(book, "bg") == "revoked"
    assert status(book, "fg") == "granted"
    assert book.revoked == 1


def test_without_preemption_nobody_is_asked_to_yield() -> None:
    book = book_with(req("bg", priority=5), req("fg", priority=1), preempt=False)
    assert status(book, "bg") == "granted"
    assert book.preemptions == 0
    assert book.queue()[0].holder == "fg"


def test_a_holder_not_renewed_within_its_ttl_expires_and_the_next_is_granted() -> None:
    book = book_with(req("a", ttl=5.0), req("b", ttl=100.0))
    book.watch("a", 4.0)
    book.schedule(8.9)
    assert status(book, "a") == "granted"
    assert book.next_deadline(8.9) == 9.0
    book.schedule(9.0)
    assert status(book, "a") == "expired"
    assert "not renewed within 5s" in book.state("a").detail
    assert status(book, "b") == "granted"
    assert book.expired == 1


def test_a_waiter_not_renewed_within_its_ttl_loses_its_place() -> None:
    book = book_with(req("a", ttl=100.0), req("gone", ttl=5.0), req("b", ttl=100.0))
    book.schedule(5.0)
    assert status(book, "gone") == "expired"
    book.release("a", 6.0)
    book.schedule(6.0)
    assert status(book, "b") == "granted"
    again = book.acquire(req("gone", ttl=5.0), 7.0)  # calling again queues it anew, last
    assert again.status == "queued"
    assert [s.holder for s in book.queue()] == ["gone"]


def test_renewing_keeps_the_place_and_unknown_holders_are_expired() -> None:
    book = book_with(req("a"), req("b"))
    assert book.acquire(req("b"), 20.0).status == "queued"
    book.schedule(35.0)  # a: last seen at 0, ttl 30; b: renewed at 20
    assert status(book, "b") == "granted"
    assert book.watch("nobody", 35.0).status == "expired"
    assert book.release("nobody", 35.0).status == "expired"


def test_the_fence_grows_with_every_grant() -> None:
    book = book_with(req("a", "0"), req("b", "1"))
    fences = [book.state("a").fence, book.state("b").fence]
    book.release("a", 1.0)
    book.acquire(req("c", "0"), 1.0)
    book.schedule(1.0)
    assert fences == [1, 2]
    assert book.state("c").fence == 3
    assert book.grants == 3


def test_a_snapshot_round_trips_through_json() -> None:
    book = book_with(req("bg", "0", priority=5), req("fg", "0", priority=1), req("x", "1"))
    book.release("x", 1.0)
    book.schedule(1.0)
    raw = book.snapshot().model_dump_json()
    again = LeaseBook.restore(LeaseBookSnapshot.model_validate_json(raw), GRACE)
    assert again.snapshot() == book.snapshot()
    assert again.state("x").status == "released"
    again.acquire(req("y", "1"), 2.0)
    again.schedule(2.0)
    assert again.state("y").fence == book.fence + 1
    again.schedule(GRACE + 0.5)  # bg was asked to yield at 0: revoked after its grace
    assert again.state("bg").status == "revoked"
    assert again.state("fg").status == "granted"
