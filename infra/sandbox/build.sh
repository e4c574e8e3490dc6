#!/usr/bin/env bash
# Build the Docker sandbox image locally (no registry is reachable): debootstrap a minimal
# Debian bookworm rootfs with python3 + pytest from apt's configured mirror, `docker import`
# it as the base, then build infra/sandbox/Dockerfile on top (ruff, the in-sandbox runner,
# the unprivileged user, the work dir).
#
# Idempotent and cached, in two layers: the base is tagged with a hash of the suite and
# package list, the image with a hash of the base tag, the Dockerfile, the runner and the
# ruff version; an existing tag is never rebuilt. naestro-sandbox:current points at the
# newest image (temporal.yaml's default sandbox.docker.image).
#   usage: infra/sandbox/build.sh [RUFF_BINARY]      (default: .venv/bin/ruff)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ruff="${1:-$root/.venv/bin/ruff}"
runner="$root/activities/sandbox/runner.py"
repo=naestro-sandbox
suite=bookworm
packages=python3,python3-pytest

log() { printf '\033[1m[sandbox-image]\033[0m %s\n' "$*"; }

mirror() {
  # The mirror apt already uses (deb822 or one-line sources), else Debian's CDN.
  local uri
  uri=$(grep -hoE '^URIs: *https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources \
    2>/dev/null | head -1 | awk '{print $2}' || true)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +https?://[^ ]+/debian/? ' /etc/apt/sources.list \
    2>/dev/null | head -1 | awk '{print $2}' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

exists() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {  # $1: tag
  local work
  work=$(mktemp -d /var/tmp/naestro-sandbox-base.XXXXXX)
  log "debootstrap $suite ($packages) from $(mirror)"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" \
      "$(mirror)" >"$work/debootstrap.log" 2>&1; then
    tail -30 "$work/debootstrap.log" >&2; rm -rf "$work"; return 1
  fi
  log "docker import -> $1"
  tar -C "$work/rootfs" --numeric-owner -c . | docker import - "$1" >/dev/null
  rm -rf "$work"
}

[ -x "$ruff" ] || { echo "no ruff binary at $ruff (run uv sync first)" >&2; exit 1; }
base="$repo-base:$(echo "$suite $packages" | sha256sum | cut -c1-16)"
tag=$( (echo "$base"; cat "$here/Dockerfile" "$runner"; "$ruff" --version) \
  | sha256sum | cut -c1-16)
image="$repo:$tag"

if exists "$image"; then
  docker tag "$image" "$repo:current"
  log "$image is up to date"
  exit 0
fi
exists "$base" || build_base "$base"
context=$(mktemp -d /var/tmp/naestro-sandbox-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$runner" "$context/"
cp "$ruff" "$context/ruff"
log "docker build -> $image"
DOCKER_BUILDKIT=0 docker build --quiet --network none --build-arg "BASE=$base" -t "$image" \
  -t "$repo:current" "$context" >/dev/null 2>"$context/build.log" || { cat "$context/build.log" >&2; exit 1; }
log "built $image"
