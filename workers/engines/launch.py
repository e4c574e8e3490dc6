"""How each kind of engine is started: its command line and environment.

llama.cpp runs `python -m llama_cpp.server` (llama-cpp-python's OpenAI-compatible server)
on the GGUF file; vLLM runs `vllm serve` with CUDA_VISIBLE_DEVICES set to its GPU set; NIM
and TensorRT-LLM run the command given (a container or `trtllm-serve`). Every engine
serves the provider's `model` name, which is what Naestro's adapter asks for.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from naestro.config.settings import EngineConfig, GpuRef, ProviderConfig, parse_gpu_ref
from naestro.errors import ConfigError
from workers.gpu.placement import cuda_visible_devices


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]


def served_name(provider: ProviderConfig) -> str:
    return provider.model


def launch(
    engine: EngineConfig,
    provider: ProviderConfig,
    model_path: str,
    devices: list[str] | None = None,
) -> Launch:
    """The command that starts ``engine`` serving ``provider``'s model, on ``devices`` (the
    device keys placement gave it; None: its gpus as written, which needs no placement
    unless one is a MIG profile)."""
    env = dict(engine.env)
    if devices is None:
        devices = [_unplaced(engine, ref) for ref in engine.gpus]
    if devices:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(devices)
    if engine.kind == "llamacpp":
        return Launch(_llamacpp(engine, provider, model_path), env)
    if engine.kind == "vllm":
        return Launch(_vllm(engine, provider, model_path), env)
    if not engine.command:
        raise ConfigError(f"engines.{engine.id}: kind {engine.kind} needs `command`")
    return Launch([*engine.command, *engine.args], env)


def _unplaced(engine: EngineConfig, ref: GpuRef) -> str:
    kind, _, value = parse_gpu_ref(ref)
    if kind == "profile":
        raise ConfigError(f"engines.{engine.id}.gpus: MIG profile {ref} needs placement")
    return value


def _llamacpp(engine: EngineConfig, provider: ProviderConfig, model_path: str) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        model_path,
        "--model_alias",
        served_name(provider),
        "--host",
        engine.host,
        "--port",
        str(engine.port),
        "--n_ctx",
        str(engine.context_size),
        # Its default cuts a streaming reply short whenever another request arrives (a
        # readiness probe, a token count, the next caller): requests wait their turn instead.
        "--interrupt_requests",
        "False",
    ]
    if engine.threads:
        argv += ["--n_threads", str(engine.threads)]
    return [*argv, *engine.args]


def _vllm(engine: EngineConfig, provider: ProviderConfig, model_path: str) -> list[str]:
    return [
        "vllm",
        "serve",
        model_path,
        "--served-model-name",
        served_name(provider),
        "--host",
        engine.host,
        "--port",
        str(engine.port),
        *engine.args,
    ]


def endpoint(engine: EngineConfig) -> str:
    """The engine's OpenAI-compatible base URL."""
    host = f"[{engine.host}]" if ":" in engine.host else engine.host
    return f"http://{host}:{engine.port}/v1"
