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
packages=python3,python3-pytest

log() { printf '\033[1m[sandbox-image]\033[0m %s\n' "$*"; }

exists() { docker image inspect "$1" >/dev/null 2>&1; }

[ -x "$ruff" ] || { echo "no ruff binary at $ruff (run uv sync first)" >&2; exit 1; }
base=$("$root/infra/debian-base.sh" "$repo-base" "$packages")  # built once, then reused
tag=$( (echo "$base"; cat "$here/Dockerfile" "$runner"; "$ruff" --version) \
  | sha256sum | cut -c1-16)
image="$repo:$tag"

if exists "$image"; then
  docker tag "$image" "$repo:current"
  log "$image is up to date"
  exit 0
fi
context=$(mktemp -d /var/tmp/naestro-sandbox-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$runner" "$context/"
cp "$ruff" "$context/ruff"
log "docker build -> $image"
DOCKER_BUILDKIT=0 docker build --quiet --network none --build-arg "BASE=$base" -t "$image" \
  -t "$repo:current" "$context" >/dev/null 2>"$context/build.log" || { cat "$context/build.log" >&2; exit 1; }
log "built $image"
