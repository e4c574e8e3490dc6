"""Settings of the HTTP gateway (`api:` in temporal.yaml): auth, limits, cache, Slack.

Secrets are never here: the JWT key, the Slack signing secret and the webhook URL come
from the environment variables these settings name.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from naestro.contracts.task import MAX_PROMPT_CHARS

# What a task body holds beside its prompt (kind, policy, budget, a workspace reference).
BODY_OVERHEAD = 16 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JwtConfig(_Strict):
    key_env: str = Field(
        default="NAESTRO_JWT_KEY", description="HMAC secret or PEM public key, from this env var"
    )
    algorithms: list[str] = Field(default=["HS256"], min_length=1)
    issuer: str = "naestro"
    audience: str = "naestro-api"
    tenant_claim: str = "tenant"

    @field_validator("algorithms")
    @classmethod
    def _no_none(cls, algorithms: list[str]) -> list[str]:
        if any(a.lower() == "none" for a in algorithms):
            raise ValueError("the 'none' algorithm would accept unsigned tokens")
        return algorithms

    def key(self) -> str | None:
        return os.environ.get(self.key_env) or None


class SlackConfig(_Strict):
    webhook_url_env: str = "NAESTRO_SLACK_WEBHOOK_URL"
    signing_secret_env: str = "NAESTRO_SLACK_SIGNING_SECRET"
    approvers: list[str] = Field(default=[], description="Slack user ids allowed to decide")
    max_skew_seconds: int = Field(default=300, ge=1)

    def webhook_url(self) -> str | None:
        return os.environ.get(self.webhook_url_env) or None

    def signing_secret(self) -> str | None:
        return os.environ.get(self.signing_secret_env) or None


class RateLimitConfig(_Strict):
    per_second: float = Field(default=5.0, gt=0, description="tokens refilled per second")
    burst: int = Field(default=20, ge=1, description="bucket size")


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535, description="off 8000: vLLM's default")
    public_url: str = "http://127.0.0.1:8787"
    max_prompt_chars: int = Field(
        default=100_000,
        ge=1,
        le=MAX_PROMPT_CHARS,
        description="longer prompts get 413 (the API) or a one-line error (the CLI)",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, description="larger bodies get 413 (workspaces excepted)"
    )
    max_workspace_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="larger uploads to /v1/blobs get 413"
    )
    rate_limit: RateLimitConfig = RateLimitConfig()
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, description="a verified key is trusted this long (revocation lag)"
    )
    # Backpressure: new tasks get 429 while this many are in model phases (the LLM queue's
    # 64) or, for code tasks, this many are verifying (the sandbox queue's 8), to tenants
    # already holding their fair share of that queue (api/limits.py fair_share).
    max_model_tasks: int = Field(default=64, ge=1)
    max_verify_tasks: int = Field(default=8, ge=1)
    cache_ttl_seconds: int = Field(default=86_400, ge=0, description="0 turns the cache off")
    memory_snapshot: str = Field(
        default="none", description="memory snapshot id; part of the response-cache key"
    )
    database_url_env: str = "DATABASE_URL"
    jwt: JwtConfig = JwtConfig()
    slack: SlackConfig = SlackConfig()

    @model_validator(mode="after")
    def _body_holds_a_prompt(self) -> ApiConfig:
        """A prompt at the limit must fit in a body: else it would meet the body limit's
        413, whose message does not name the prompt limit that was raised."""
        needed = self.max_prompt_chars + BODY_OVERHEAD
        if self.max_body_bytes < needed:
            raise ValueError(
                f"api.max_body_bytes ({self.max_body_bytes}) cannot hold a prompt of "
                f"api.max_prompt_chars ({self.max_prompt_chars}): raise it to at least {needed}"
            )
        return self

    def prompt_refusal(self, prompt: str) -> str | None:
        """Why a prompt is refused, or None: the one rule the API (413) and the CLI use."""
        if len(prompt) <= self.max_prompt_chars:
            return None
        return (
            f"prompt: {len(prompt)} characters, over the limit of {self.max_prompt_chars} "
            "(api.max_prompt_chars)"
        )
