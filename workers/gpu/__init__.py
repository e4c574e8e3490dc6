"""GPU-aware workers: NVML telemetry, placement of engines on GPUs, call admission by GPU
memory, and the health each engine's GPUs report to routing (docs/gpus.md)."""
