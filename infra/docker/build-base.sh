#!/usr/bin/env bash
# A local Python base for infra/docker/Dockerfile where no container registry is reachable
# (the tests, an air-gapped build host): debootstrap a minimal Debian bookworm with python3
# and its venv module from apt's configured mirror and `docker import` it. Prints the tag,
# naestro-python-base:<hash of suite and packages>; an existing tag is reused.
#   usage: infra/docker/build-base.sh      then: docker build --build-arg BASE=<tag> ...
set -euo pipefail
suite=bookworm
packages=python3,python3-venv
repo=naestro-python-base
tag="$repo:$(echo "$suite $packages" | sha256sum | cut -c1-16)"

log() { printf '\033[1m[python-base]\033[0m %s\n' "$*" >&2; }

mirror() {  # the mirror apt already uses (deb822 or one-line sources), else Debian's CDN
  local uri
  uri=$(grep -hoE '^URIs: *https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources \
    2>/dev/null | head -1 | awk '{print $2}' || true)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +https?://[^ ]+/debian/? ' /etc/apt/sources.list \
    2>/dev/null | head -1 | awk '{print $2}' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! docker image inspect "$tag" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { log "debootstrap is needed (scripts/sandbox-setup.sh)"; exit 1; }
  work=$(mktemp -d /var/tmp/naestro-python-base.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  log "debootstrap $suite ($packages) from $(mirror)"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$(mirror)" \
      >"$work/debootstrap.log" 2>&1; then
    tail -30 "$work/debootstrap.log" >&2; exit 1
  fi
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*
  log "docker import -> $tag"
  tar -C "$work/rootfs" --numeric-owner -c . | docker import - "$tag" >/dev/null
fi
echo "$tag"
