#!/usr/bin/env bash
# What the test suite needs beyond bootstrap.sh (which `make demo` runs too), idempotently and
# cached after the first run: Prometheus and promtool (Debian's package), Jaeger built from the
# Go module proxy (the telemetry tests' trace store), and the compose/Kubernetes tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(./scripts/ensure-go.sh):$PATH"  # Jaeger and the Kubernetes tools are built with Go
export PATH
./scripts/install-monitoring-tools.sh
./scripts/install-trace-tools.sh
./scripts/install-deploy-tools.sh
