"""Deterministic steps shared by the workflows: calls (the one model-call path), verify,
privacy, approval, memory and deliberate. Workflow code: no I/O but activities."""
