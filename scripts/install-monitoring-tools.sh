#!/usr/bin/env bash
# Installs Debian's `prometheus` package for its /usr/bin/promtool (tests/infra checks the alert
# rules, their unit tests and infra/prometheus/prometheus.yml with it), idempotently.
#
# The package ships a service that its postinst starts through invoke-rc.d. Naestro only wants
# the binaries, and in a container without systemd a started daemon would be an orphan, so
# the install runs with a temporary /usr/sbin/policy-rc.d that answers 101 ("action not
# allowed"): invoke-rc.d then starts nothing. Afterwards the service is stopped if something
# started it anyway (a machine with a running init), and disabled where systemd runs.
set -euo pipefail

log() { printf '\033[1m[monitoring-tools]\033[0m %s\n' "$*"; }

if command -v promtool >/dev/null; then
  log "promtool found: $(promtool --version 2>&1 | head -n 1)"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  log "please install as root: apt-get install -y prometheus"; exit 1; fi

policy=/usr/sbin/policy-rc.d
restore_policy=""
if [ -e "$policy" ]; then
  # Someone else's policy: keep it aside and put it back afterwards.
  restore_policy=$(mktemp)
  $SUDO cp -p "$policy" "$restore_policy"
fi
cleanup() {
  if [ -n "$restore_policy" ]; then
    $SUDO cp -p "$restore_policy" "$policy"
    rm -f "$restore_policy"
  else
    $SUDO rm -f "$policy"
  fi
}
trap cleanup EXIT
printf '#!/bin/sh\n# install-monitoring-tools.sh: start no service while installing\nexit 101\n' \
  | $SUDO tee "$policy" >/dev/null
$SUDO chmod 755 "$policy"

log "installing Debian's prometheus package (for promtool; its service is not started)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus \
  >/dev/null

# Belt and braces: a running init may have started it regardless of the policy.
if [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
elif command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
  $SUDO service prometheus stop >/dev/null 2>&1 || true
fi

log "installed: $(promtool --version 2>&1 | head -n 1)"
