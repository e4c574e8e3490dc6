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


async def test_a_busy_engine_that_served_lately_is_still_routed_to() -> None:
    # llama.cpp's server answers /models only between generations: mid-generation the
    # probe times out, and an engine seen serving a moment ago is busy, not down.
    listing = Reply(body={"object": "list", "data": [{"id": "served-model"}]})
    with WireServer() as wire:
        wire.script("/v1/models", listing, Reply(body=listing.body, delay_s=2.0))
        probe = EndpointProbe(ttl_seconds=0.0)  # every call probes
        endpoint = wire.url + "/v1"
        assert await probe.serves(endpoint, "served-model")
        assert await probe.serves(endpoint, "served-model")  # answered late: busy


async def test_an_engine_never_seen_serving_is_not_trusted_when_silent() -> None:
    listing = {"object": "list", "data": [{"id": "served-model"}]}
    with WireServer() as wire:
        wire.script("/v1/models", Reply(body=listing, delay_s=2.0))
        assert not await EndpointProbe().serves(wire.url + "/v1", "served-model")
