#!/usr/bin/env bash
# Set up everything Naestro needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (bubblewrap, Debian's python3-pytest for the sandbox, chromium for the
# web page's browser test), uv, the Python
# environment from uv.lock, and the Temporal CLI (reused when found, else built with Go).
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
[ -x /usr/bin/chromium ] || need+=(chromium)  # the web page's browser test (Playwright drives it)
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi

if ! command -v uv >/dev/null; then
  log "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
UV=$(command -v uv || echo "$(python3 -m site --user-base)/bin/uv")

log "syncing the Python environment (uv.lock)"
"$UV" sync --frozen --quiet

log "setting up the Docker sandbox (docker.io, dockerd, the sandbox image)"
./scripts/sandbox-setup.sh

log "looking for the Temporal CLI"
export PATH="$PATH:/usr/local/go/bin"
.venv/bin/python -m cli.devstack
