#!/usr/bin/env bash
# A local Debian base image where no container registry is reachable (the sandbox image, the
# tests' Naestro image, an air-gapped build host): debootstrap a minimal bookworm with the
# given packages from apt's configured mirror and `docker import` it. Prints the tag,
# REPO:<hash of suite and packages>; an existing tag is reused.
#   usage: infra/debian-base.sh REPO PACKAGES      e.g. naestro-python-base python3,python3-venv
set -euo pipefail
repo=$1
packages=$2
suite=bookworm
tag="$repo:$(echo "$suite $packages" | sha256sum | cut -c1-16)"

log() { printf '\033[1m[%s]\033[0m %s\n' "$repo" "$*" >&2; }

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
  work=$(mktemp -d /var/tmp/naestro-base.XXXXXX)
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
