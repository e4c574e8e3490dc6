"""The one model-call path: every workflow that calls a model calls it through here.

For each call: route it (a local activity: role, phase, context length, SLM ramp,
breakers, latency, local<->cloud fallback) -> apply the tenant's PII action for the
provider's location (naestro/pii/exposure.py: block / redact / allow) -> reserve the budget
(tokens, USD, GPU-seconds; the wall time bounds the call's timeouts) so no call can
overshoot -> one activity call with the LLM_CALL preset -> restore placeholders ->
reconcile the ledger -> report the outcome to the governor with the next routing decision.
A provider that fails its attempts is excluded and the call goes to its fallback.
Structured replies (judge verdicts, critiques) get a JSON schema and one repair.
A call made with ``tools=True`` on a caller that has a ToolBelt (workflows/steps/tools.py)
may call tools: each model turn of that conversation is one call through this path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError

from activities.models.activity import ModelActivities
from activities.pii import PiiActivities
from activities.routing.activity import RoutingActivities
from naestro.contracts import (
    CallOutcome,
    CallRoute,
    CallRouteRequest,
    ChatMessage,
    ModelCall,
    ModelRequest,
    ModelResponse,
    PiiScanRequest,
    PiiScanResult,
    RoutedProvider,
    ToolChoice,
    ToolSpec,
)
from naestro.contracts.pii import PiiStage
from naestro.contracts.stream import TokenDelta
from naestro.errors import BudgetExhausted, NaestroError, NoProviderReady, to_application_error
from naestro.ledger import BudgetExceeded, LedgerBook, Reservation
from naestro.parsing import estimate_tokens
from naestro.pii import exposure
from naestro.pii.redaction import with_placeholders
from naestro.presets import LLM_CALL, LOCAL_FAST, llm_retry
from naestro.structured import repair_messages, schema_for, validate

if TYPE_CHECKING:
    from workflows.steps.tools import ToolBelt

T = TypeVar("T", bound=BaseModel)
BUDGET_ERROR = BudgetExhausted.__name__
NOT_READY = NoProviderReady.__name__
# Calls started before it fail at once when no provider is ready; after it they wait.
WAIT_FOR_PROVIDER = "naestro.wait-for-provider"
READY_WAITS = (2, 4, 8, 15, 30, 30, 30, 30)  # seconds between routings: ~2.5 min in all
MIN_CALL_SECONDS = 1.0


class CallCancelled(Exception):
    """The workflow was asked to stop while a call was in flight (the call is cancelled)."""


@dataclass(frozen=True)
class CallScope:
    """What every call of one workflow shares."""

    task_id: str
    policy: str
    tenant: str
    priority: int
    pii: PiiScanResult
    max_output_tokens: int
    heartbeat_timeout_seconds: int
    call_attempts: int
    deadline: datetime | None = None  # the wall-time budget's end
    stream: bool = False
    live_tokens_ms: int = 0  # streamed calls publish live tokens (the workflow hosts a stream)
    # Histories from before per-call routing: a role's provider fixed once per task.
    fixed_routes: dict[str, RoutedProvider] | None = None


class _NotReady(Exception):
    """Routing found no provider ready yet; ``error`` is what the task fails with when
    waiting is over."""

    def __init__(self, error: ApplicationError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class ModelCaller:
    scope: CallScope
    book: LedgerBook
    on_call: Callable[[ModelCall], None] = lambda call: None
    cancelled: Callable[[], str | None] = lambda: None
    outcomes: list[CallOutcome] = field(default_factory=list)
    _seq: int = 0  # outcomes noted so far (their keys)
    tools: ToolBelt | None = None  # the task's tools, when its policy allows some
    # A call's live tokens its activity held back (ModelResponse.unpublished_call)
    on_tokens: Callable[[TokenDelta], None] = lambda delta: None

    async def text(
        self,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        *,
        prefer: int = 0,
        temperature: float = 0.2,
        tools: bool = False,
    ) -> ModelResponse:
        """One reply; with ``tools`` (and a ToolBelt) the model may call tools first."""
        if tools and self.tools is not None:

            async def ask(
                history: list[ChatMessage], offer: list[ToolSpec], choice: ToolChoice
            ) -> ModelResponse:
                return await self._call(
                    role, phase, history, prefer, temperature, None, offer=offer, choice=choice
                )

            return await self.tools.converse(phase, messages, ask, self.scan_joining)
        return await self._call(role, phase, messages, prefer, temperature, None)

    async def scan_joining(self, text: str, stage: PiiStage) -> list[str]:
        """Scan text that joins the conversation from elsewhere than the prompt (a tool's
        result; a local activity): what PII it holds gets placeholders in the task's
        mapping, numbered on from the prompt's, so every later call sends it to each
        provider as the tenant's policy says, as it does the prompt's (and routing knows
        the task holds PII). The entity types found, sorted.

        The scope's findings then come from several texts: what they tell is their types."""
        pii = self.scope.pii
        scan: PiiScanResult = await workflow.execute_local_activity_method(
            PiiActivities.scan,
            PiiScanRequest(
                text=text, task_id=self.scope.task_id, tenant=self.scope.tenant, stage=stage
            ),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary=f"PII scan of a {stage.replace('_', ' ')}",
        )
        if scan.findings:
            numbered = with_placeholders(scan, text, pii.mapping)
            update = {"findings": [*pii.findings, *scan.findings], "mapping": numbered.mapping}
            self.scope = replace(self.scope, pii=pii.model_copy(update=update))
        return sorted({f.entity_type for f in scan.findings})

    async def structured(
        self,
        model: type[T],
        role: str,
        phase: str,
        messages: list[ChatMessage],
        *,
        prefer: int = 0,
    ) -> T:
        """The reply as ``model``: one repair round with the validation error, then a
        non-retryable StructuredOutputError naming what was wrong."""
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

    async def route(
        self, role: str, phase: str, messages: list[ChatMessage], *, prefer: int = 0
    ) -> CallRoute:
        """Route a call now, to make it later with ``text_on``. Calls made concurrently
        (asyncio.gather) are routed first, one after another: a routing local activity
        that resolves while other branches run is resumed in completion order live and in
        sequence order on replay, so the commands after it would not match the history
        (temporalio/sdk-python#1578)."""
        try:
            return await self._route(role, phase, messages, prefer, {})
        except _NotReady as not_ready:
            raise not_ready.error from None

    async def text_on(
        self,
        route: CallRoute,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        *,
        temperature: float = 0.2,
    ) -> ModelResponse:
        """A call on a route taken by ``route``: no local activity, so concurrent calls
        replay in order. A provider failure is raised as its ActivityError (its outcome
        noted): make the call again through ``text``, which falls back."""
        try:
            return await self._attempt(route, role, phase, messages, temperature, None)
        except ActivityError as err:
            self._note_failure(route, err)
            raise

    async def report(self) -> None:
        """Hand the outcomes not yet reported to the governor (a local activity)."""
        if not self.outcomes:
            return
        await workflow.execute_local_activity_method(
            RoutingActivities.report_outcomes,
            self._drain(),
            start_to_close_timeout=LOCAL_FAST.start_to_close,
            retry_policy=LOCAL_FAST.retry,
            summary="report call outcomes to the governor",
        )

    def _note(self, outcome: CallOutcome) -> None:
        self._seq += 1
        info = workflow.info()
        key = f"{info.workflow_id}/{info.run_id}/{self._seq}"
        self.outcomes.append(outcome.model_copy(update={"key": key}))

    def _note_failure(self, route: CallRoute, err: ActivityError) -> str:
        """Note a provider's failed call for the governor; its cause, as text."""
        cause = str(err.cause or err)
        self._note(CallOutcome(provider_id=route.provider.provider_id, ok=False, error=cause))
        return cause

    def _drain(self) -> list[CallOutcome]:
        out, self.outcomes = self.outcomes, []
        return out

    # ------------------------------------------------------------ route, then attempt

    async def _call(
        self,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        prefer: int,
        temperature: float,
        schema: type[BaseModel] | None,
        *,
        offer: list[ToolSpec] | None = None,
        choice: ToolChoice = "auto",
    ) -> ModelResponse:
        failed: dict[str, str] = {}
        rejected = False  # a provider refused this call for good (a bad key, a bad request)
        waits = iter(READY_WAITS)
        while True:
            try:
                route = await self._route(role, phase, messages, prefer, failed)
            except _NotReady as not_ready:
                # A local engine restarting, a breaker cooling down: wait, then route again
                # (every provider may be tried afresh), within the call's deadline.
                pause = next(waits, None)
                if rejected or pause is None or not self._time_for(pause) or not self._waits():
                    raise not_ready.error from None
                workflow.logger.info(
                    "%s/%s: %s; routing again in %d s", phase, role, not_ready.error.message, pause
                )
                await workflow.sleep(pause)
                failed.clear()
                continue
            try:
                return await self._attempt(
                    route, role, phase, messages, temperature, schema, offer=offer, choice=choice
                )
            except ActivityError as err:
                pid = route.provider.provider_id
                cause = self._note_failure(route, err)
                rejected |= isinstance(err.cause, ApplicationError) and err.cause.non_retryable
                workflow.logger.warning("%s/%s: %s failed, trying its fallback", phase, role, pid)
                failed[pid] = cause

    async def _route(
        self,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        prefer: int,
        failed: dict[str, str],
    ) -> CallRoute:
        s = self.scope
        if s.fixed_routes is not None:
            return _fixed(s.fixed_routes[role], role, messages, failed)
        ask = CallRouteRequest(
            policy=s.policy,
            role=role,
            phase=phase,
            messages=messages,
            max_output_tokens=s.max_output_tokens,
            contains_pii=bool(s.pii.findings),
            slm_draw=workflow.random().random(),
            prefer_index=prefer,
            exclude=list(failed),
            outcomes=self._drain(),
            tenant=s.tenant,
        )
        try:
            return await workflow.execute_local_activity_method(
                RoutingActivities.route_call,
                ask,
                start_to_close_timeout=LOCAL_FAST.start_to_close,
                retry_policy=LOCAL_FAST.retry,
                summary=f"route {phase}/{role}",
            )
        except (ActivityError, ApplicationError) as err:  # a local activity's own error
            why = err.cause if isinstance(err, ActivityError) and err.cause else err
            message = why.message if isinstance(why, ApplicationError) else str(why)
            tried = "".join(f"; {pid} failed: {cause}" for pid, cause in failed.items())
            error = ApplicationError(
                f"{phase}: {message}{tried}", type="NoProviderError", non_retryable=True
            )
            if isinstance(why, ApplicationError) and why.type == NOT_READY:
                raise _NotReady(error) from err
            raise error from err

    def _time_for(self, pause: float) -> bool:
        """Whether a wait of ``pause`` seconds still leaves the call time before its
        deadline."""
        deadline = self.scope.deadline
        return deadline is None or workflow.now() + timedelta(seconds=pause + 1) < deadline

    def _waits(self) -> bool:
        """Whether this workflow waits for a provider (a patch: older runs failed at once)."""
        return workflow.patched(WAIT_FOR_PROVIDER)

    async def _attempt(
        self,
        route: CallRoute,
        role: str,
        phase: str,
        messages: list[ChatMessage],
        temperature: float,
        schema: type[BaseModel] | None,
        *,
        offer: list[ToolSpec] | None = None,
        choice: ToolChoice = "auto",
    ) -> ModelResponse:
        p, s = route.provider, self.scope
        try:
            sent, redacted = exposure.for_provider(
                s.pii, p.location, p.provider_id, s.tenant, messages
            )
        except NaestroError as exc:
            raise to_application_error(exc) from None
        seconds = self._call_seconds(route)
        held = self._reserve(route, seconds)
        request = ModelRequest(
            provider_id=p.provider_id,
            role=role,
            phase=phase,
            messages=sent,
            max_output_tokens=held.output_cap,
            stream=s.stream,
            live_tokens_ms=s.live_tokens_ms if s.stream else 0,
            task_id=s.task_id,
            tenant=s.tenant,
            response_schema=schema_for(schema) if schema else None,
            schema_name=schema.__name__ if schema else "reply",
            temperature=temperature,
            tools=offer or [],
            tool_choice=choice,
        )
        try:
            response = await self._run(request, route, seconds)
        except BaseException:
            self.book.release(held)
            raise
        if response.unpublished_call:
            self.on_tokens(_held(request, response))
        text = exposure.from_provider(response.text, s.pii, redacted)
        calls = exposure.calls_from_provider(response.tool_calls, s.pii, redacted)
        response = response.model_copy(update={"text": text, "tool_calls": calls})
        call = ModelCall.of(phase, role, response, gpus=route.gpus, reason=route.reason)
        self.book.reconcile(held, call)
        self._note(_outcome(response))
        self.on_call(call)
        return response

    def _call_seconds(self, route: CallRoute) -> float:
        """The call's time limit: the preset, cut to the wall time and GPU-seconds left."""
        seconds = LLM_CALL.start_to_close.total_seconds()
        if self.scope.deadline is not None:
            left = (self.scope.deadline - workflow.now()).total_seconds()
            if left < MIN_CALL_SECONDS:
                raise _budget("wall time: the task's budget is spent")
            seconds = min(seconds, left)
        gpu_left = self.book.gpu_seconds_left()
        if route.gpus and gpu_left is not None:
            seconds = min(seconds, gpu_left / route.gpus)
            if seconds < MIN_CALL_SECONDS:
                raise _budget(f"GPU-seconds: {gpu_left:.1f} left, not enough for a call")
        return seconds

    def _reserve(self, route: CallRoute, seconds: float) -> Reservation:
        p = route.provider
        try:
            return self.book.reserve(
                route.prompt_tokens_max or route.prompt_tokens,
                self.scope.max_output_tokens,
                p.price_input_per_mtok,
                p.price_output_per_mtok,
                gpu_seconds=route.gpus * seconds,
            )
        except BudgetExceeded as exc:
            raise _budget(str(exc)) from None

    async def _run(self, request: ModelRequest, route: CallRoute, seconds: float) -> ModelResponse:
        """The activity, bounded by ``seconds`` over all its attempts; a cancel cancels it."""
        limit = timedelta(seconds=seconds)
        handle = workflow.start_activity_method(
            ModelActivities.complete,
            request,
            task_queue=route.provider.task_queue,
            start_to_close_timeout=limit,
            schedule_to_close_timeout=limit,
            heartbeat_timeout=timedelta(seconds=self.scope.heartbeat_timeout_seconds),
            retry_policy=llm_retry(self.scope.call_attempts),
            summary=f"{request.phase}: {request.role} via {route.provider.provider_id} "
            f"({route.provider.model}); {route.reason}",
            priority=Priority(priority_key=self.scope.priority),
        )
        await workflow.wait_condition(lambda: handle.done() or self.cancelled() is not None)
        if not handle.done():
            handle.cancel()
            raise CallCancelled(self.cancelled() or "cancelled")
        return await handle


def _fixed(
    provider: RoutedProvider, role: str, messages: list[ChatMessage], failed: dict[str, str]
) -> CallRoute:
    """A route fixed at task start (histories from before per-call routing): no fallback."""
    if provider.provider_id in failed:
        raise ApplicationError(
            f"{role} via {provider.provider_id} failed: {failed[provider.provider_id]}",
            type="TaskFailed",
            non_retryable=True,
        )
    tokens = sum(estimate_tokens(m.content) for m in messages)
    return CallRoute(
        role=role,
        provider=provider,
        prompt_tokens=tokens,
        token_counter="estimate:chars/4",
        reason="",
        gpus=provider.gpus,
    )


def _outcome(r: ModelResponse) -> CallOutcome:
    return CallOutcome(
        provider_id=r.provider_id,
        ok=True,
        latency_ms=r.latency_ms,
        output_tokens=r.usage.output_tokens,
        cost_usd=r.cost_usd,
    )


def _budget(message: str) -> ApplicationError:
    return ApplicationError(message, type=BUDGET_ERROR, non_retryable=True)


def _held(request: ModelRequest, response: ModelResponse) -> TokenDelta:
    """The call's last piece: the live tokens its activity held back (as the provider wrote
    them), the whole reply when none went out."""
    tail = response.unpublished_tail
    return TokenDelta(
        call=response.unpublished_call,
        phase=request.phase,
        role=request.role,
        provider=request.provider_id,
        text=response.text if tail is None else tail,
        final=True,
    )
