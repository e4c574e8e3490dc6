"""Naestro's own settings: the temporal.yaml schema (settings) and the gateway's (gateway)."""
