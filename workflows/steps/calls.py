"""Routed model calls for workflows: route (local activity) -> reserve -> call -> reconcile.

Used by ConsensusWorkflow. Each call is routed on its own (``CallRouting.route_call``), so
a failing provider is left for its fallback at once, and the outcome of every call is
reported to the governor with the next routing decision. Structured roles validate their
reply with pydantic, get one repair attempt, then fail non-retryably.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from activities.models.activity import ModelActivities
from activities.routing.calls import CallRouting
from naestro.contracts import (
    CallOutcome,
    CallRoute,
    CallRouteRequest,
    ChatMessage,
    ConsensusRequest,
    ModelCall,
    ModelRequest,
    ModelResponse,
)
from naestro.errors import NON_RETRYABLE_ERROR_TYPES
from naestro.ledger import BudgetExceeded, LedgerBook
from naestro.pii import pseudonymize, restore
from naestro.presets import LLM_CALL, LOCAL_FAST
from naestro.structured import repair_messages, schema_for, validate

T = TypeVar("T", bound=BaseModel)
BUDGET_ERROR = "BudgetExhausted"


def _call_retry(attempts: int) -> RetryPolicy:
    """Few attempts on one provider: after them, the call goes to the fallback."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=attempts,
        non_retryable_error_types=list(NON_RETRYABLE_ERROR_TYPES),
    )


@dataclass
class RoutedCaller:
    request: ConsensusRequest
    book: LedgerBook
    outcomes: list[CallOutcome] = field(default_factory=list)

    def drain(self) -> list[CallOutcome]:
        out, self.outcomes = self.outcomes, []
        return out

    async def text(
        self,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        *,
        prefer: int = 0,
        temperature: float = 0.2,
    ) -> ModelResponse:
        return await self._call(role, phase, messages, prefer, temperature, None)

    async def structured(
        self, model: type[T], role: str, phase: str, messages: list[ChatMessage], *, prefer: int = 0
    ) -> T:
        reply = await self._call(role, phase, messages, prefer, 0.0, model)
        try:
            return validate(model, reply.text)
        except ValueError as first:
            fixed = repair_messages(messages, reply.text, model.__name__, str(first))
            reply = await self._call(role, phase, fixed, prefer, 0.0, model)
        try:
            return validate(model, reply.text)
        except ValueError as second:
            raise ApplicationError(
                f"{role} via {reply.provider_id}: reply did not match the required schema "
                f"{model.__name__} after one repair attempt: {second}",
                type="StructuredOutputError",
                non_retryable=True,
            ) from None

    async def _route(
        self, role: str, phase: str, messages: list[ChatMessage], prefer: int, exclude: list[str]
    ) -> CallRoute:
        ask = CallRouteRequest(
            policy=self.request.policy,
            role=role,
            phase=phase,
            messages=messages,
            max_output_tokens=self.request.max_output_tokens,
            contains_pii=bool(self.request.pii_mapping),
            slm_draw=workflow.random().random(),
            prefer_index=prefer,
            exclude=exclude,
            outcomes=self.drain(),
            tenant=self.request.tenant,
        )
        try:
            return await workflow.execute_local_activity_method(
                CallRouting.route_call,
                ask,
                start_to_close_timeout=LOCAL_FAST.start_to_close,
                retry_policy=LOCAL_FAST.retry,
                summary=f"route {phase}/{role}",
            )
        except ActivityError as err:
            raise ApplicationError(
                f"{phase}: {err.cause or err}", type="NoProviderError", non_retryable=True
            ) from err

    async def _call(
        self,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        prefer: int,
        temperature: float,
        schema: type[BaseModel] | None,
    ) -> ModelResponse:
        exclude: list[str] = []
        while True:
            route = await self._route(role, phase, messages, prefer, exclude)
            try:
                return await self._attempt(route, role, phase, messages, temperature, schema)
            except ActivityError as err:
                pid = route.provider.provider_id
                self.outcomes.append(CallOutcome(provider_id=pid, ok=False, error=str(err.cause)))
                workflow.logger.warning("%s/%s: %s failed, trying its fallback", phase, role, pid)
                exclude.append(pid)

    async def _attempt(
        self,
        route: CallRoute,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        temperature: float,
        schema: type[BaseModel] | None,
    ) -> ModelResponse:
        p, mapping = route.provider, self.request.pii_mapping
        if p.location == "cloud" and mapping:
            messages = [
                m.model_copy(update={"content": pseudonymize(m.content, mapping)}) for m in messages
            ]
        cap = self.book.output_cap(
            route.prompt_tokens, self.request.max_output_tokens, p.price_output_per_mtok
        )
        if cap < 1:
            raise ApplicationError(
                "no budget left for a reply", type=BUDGET_ERROR, non_retryable=True
            )
        try:
            held = self.book.reserve(
                route.prompt_tokens, cap, p.price_input_per_mtok, p.price_output_per_mtok
            )
        except BudgetExceeded as exc:
            raise ApplicationError(str(exc), type=BUDGET_ERROR, non_retryable=True) from None
        try:
            response = await workflow.execute_activity_method(
                ModelActivities.complete,
                ModelRequest(
                    provider_id=p.provider_id,
                    role=role,
                    phase=phase,
                    messages=messages,
                    max_output_tokens=max(cap, 1),
                    temperature=temperature,
                    task_id=self.request.task_id,
                    response_schema=schema_for(schema) if schema else None,
                    schema_name=schema.__name__ if schema else "reply",
                ),
                task_queue=p.task_queue,
                start_to_close_timeout=LLM_CALL.start_to_close,
                heartbeat_timeout=timedelta(seconds=self.request.heartbeat_timeout_seconds),
                retry_policy=_call_retry(self.request.consensus.call_attempts),
                summary=f"{phase}: {role} via {p.provider_id} ({p.model}); {route.reason}",
                priority=Priority(priority_key=self.request.priority),
            )
        except BaseException:
            self.book.release(held)
            raise
        if p.location == "cloud" and mapping:
            response = response.model_copy(update={"text": restore(response.text, mapping)})
        self.book.reconcile(held, self._as_call(route, role, phase, response))
        self.outcomes.append(
            CallOutcome(
                provider_id=p.provider_id,
                ok=True,
                latency_ms=response.latency_ms,
                output_tokens=response.usage.output_tokens,
                cost_usd=response.cost_usd,
            )
        )
        return response

    @staticmethod
    def _as_call(route: CallRoute, role: str, phase: str, r: ModelResponse) -> ModelCall:
        return ModelCall.of(phase, role, r, gpus=route.gpus, reason=route.reason)
