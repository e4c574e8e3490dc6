"""Routing's engine probe: a local engine is usable when its /models names the provider's
model, not when its port merely accepts connections (a loading or wrong server)."""

from __future__ import annotations

from activities.routing.providers import EndpointProbe, Providers
from naestro.config.settings import ProviderConfig, Settings
from tests.providers.wire import Reply, WireServer


def _providers(endpoint: str) -> tuple[Providers, ProviderConfig]:
    provider = ProviderConfig(id="gpu", engine="vllm", model="served-model", endpoint=endpoint)
    return Providers(Settings(providers=[provider]), EndpointProbe()), provider


async def test_engine_serving_its_model_is_usable() -> None:
    with WireServer() as wire:
        wire.serve_models("served-model")
        providers, p = _providers(wire.url + "/v1")
        assert await providers.unusable(p, False, "default") is None


async def test_loading_or_wrong_server_is_not_routed_to() -> None:
    with WireServer() as loading, WireServer() as other:
        loading.script("/v1/models", Reply(503, {"error": {"message": "loading model"}}))
        other.serve_models("some-other-model")
        for wire in (loading, other):
            providers, p = _providers(wire.url + "/v1")
            why = await providers.unusable(p, False, "default")
            assert why is not None and "does not serve served-model" in why
