"""Live tokens: what a model activity publishes on its workflow's stream while it generates
(``temporalio.contrib.workflow_streams``), and what the gateway forwards as SSE."""

from __future__ import annotations

from naestro.contracts.base import Frozen

TOKENS_TOPIC = "tokens"


class TokenDelta(Frozen):
    """A piece of one model call's reply, in order. ``call`` names the call within its
    workflow (the model activity's id and attempt), so a retried call's pieces are told
    apart from the failed attempt's; ``final`` marks the call's last piece."""

    call: str
    phase: str
    role: str
    provider: str
    text: str
    final: bool = False
