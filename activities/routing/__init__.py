"""Routing: policy resolution, per-call routing, circuit breakers, the governor and token
counting. Decisions run as local activities on the orchestrator, so history records them."""
