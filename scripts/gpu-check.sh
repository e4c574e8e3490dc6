#!/usr/bin/env bash
# On a machine with NVIDIA GPUs, after scripts/bootstrap.sh: what NVML shows (naestro gpus),
# then one supervised engine placed on GPU 0 under `naestro dev`, seen by `naestro gpus`.
# llama.cpp serves the bundled model on the CPU; placement still hands it
# CUDA_VISIBLE_DEVICES=0. Prints what it saw; stops everything it started. About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
NAESTRO=.venv/bin/naestro
READY_SECONDS=${READY_SECONDS:-180}
work=$(mktemp -d)
dev_pid=""

cleanup() {
    if [[ -n "$dev_pid" ]] && kill -0 "$dev_pid" 2>/dev/null; then
        kill -TERM -- "-$dev_pid" 2>/dev/null || true  # its process group: engines die too
        for _ in $(seq 30); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$dev_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

section() { printf '\n=== %s\n' "$*"; }

section "nvidia-smi -L"
if command -v nvidia-smi >/dev/null; then nvidia-smi -L || true; else echo "(no nvidia-smi)"; fi

section "naestro gpus --json (NVML as read now)"
devices=$(NAESTRO_CONFIG=temporal.yaml "$NAESTRO" gpus --json)
echo "$devices"

cat >"$work/temporal.yaml" <<EOF
providers:
  - id: tiny
    engine: llamacpp
    endpoint: http://127.0.0.1:18092/v1
    model: smollm2-135m
    context_window: 2048
    max_concurrency: 1
    roles: [planner, implementer, refiner, judge]
engines:
  - id: tiny
    kind: llamacpp
    model: bundled:smollm2-135m
    port: 18092
    context_size: 2048
    threads: 2
    gpus: [0]
gpu: {jobs_concurrency: 1}
dev: {data_dir: $work/data, temporal_port: 17233, ui_port: 18233}
EOF
export NAESTRO_CONFIG="$work/temporal.yaml"

section "naestro gpus --plan (before the worker)"
"$NAESTRO" gpus --plan

section "naestro dev --no-api (log: $work/dev.log)"
setsid "$NAESTRO" dev --no-api >"$work/dev.log" 2>&1 &
dev_pid=$!
deadline=$((SECONDS + READY_SECONDS))
until "$NAESTRO" engines 2>/dev/null | grep -q "ready"; do
    if ((SECONDS > deadline)) || ! kill -0 "$dev_pid" 2>/dev/null; then
        echo "the engine was not ready after ${READY_SECONDS}s; the stack's log:"
        tail -n 40 "$work/dev.log"
        "$NAESTRO" engines || true
        exit 1
    fi
    sleep 2
done
"$NAESTRO" engines
engine=$(pgrep -f "llama_cpp.server.*--port 18092" | head -n1 || true)
echo "engine pid ${engine:-?}: $(tr '\0' '\n' <"/proc/${engine:-0}/environ" 2>/dev/null |
    grep CUDA_VISIBLE_DEVICES || echo 'no CUDA_VISIBLE_DEVICES')"

section "naestro gpus"
"$NAESTRO" gpus
section "naestro gpus --plan"
"$NAESTRO" gpus --plan
section "naestro gpus run --gpu 0 (a GPU job under a lease; nvidia-smi sees its GPU)"
if [[ "$devices" == "[]" ]]; then
    echo "(no GPU: a worker polls no GPU-job queue here)"
else
    TEMPORAL_ADDRESS=127.0.0.1:17233 timeout 120 "$NAESTRO" gpus run --gpu 0 -- \
        sh -c 'echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"; nvidia-smi -L || true'
    TEMPORAL_ADDRESS=127.0.0.1:17233 "$NAESTRO" gpus leases
fi
section "done"
