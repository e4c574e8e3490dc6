#!/usr/bin/env bash
# The Docker sandbox backend's setup, idempotently (scripts/bootstrap.sh runs it after
# `uv sync`): Debian's docker.io and debootstrap, a running dockerd (started in the
# background, logging to .naestro/dockerd.log, when nothing answers on its socket), and the
# sandbox image (infra/sandbox/build.sh, a no-op when the image is up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[sandbox-setup]\033[0m %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "please run as root: $*"; return 1; fi
}

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing system packages: ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  mkdir -p .naestro
  log "starting dockerd (log: .naestro/dockerd.log)"
  as_root sh -c 'setsid nohup dockerd >"$1" 2>&1 &' sh "$PWD/.naestro/dockerd.log"
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || {
    tail -20 .naestro/dockerd.log >&2
    log "dockerd did not come up: see .naestro/dockerd.log"; exit 1; }
fi

infra/sandbox/build.sh
