#!/usr/bin/env bash
# A local Python base for infra/docker/Dockerfile where no container registry is reachable (the
# tests, an air-gapped build host): a debootstrapped bookworm with python3 and its venv module
# (infra/debian-base.sh). Prints the tag, naestro-python-base:<hash>; an existing one is reused.
#   usage: infra/docker/build-base.sh      then: docker build --build-arg BASE=<tag> ...
set -euo pipefail
exec "$(dirname "$0")/../debian-base.sh" naestro-python-base python3,python3-venv
