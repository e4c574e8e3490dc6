#!/usr/bin/env bash
# Builds Jaeger (the trace store the telemetry tests export to over OTLP) from the Go module
# proxy into .naestro/bin/jaeger, idempotently: the version and every dependency are pinned by
# infra/tools/jaeger/go.mod and go.sum (`go get -tool ...jaeger/cmd/jaeger@v1.76.0`), and a
# binary built from the same go.sum is reused. The first build takes minutes; Go caches it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[trace-tools]\033[0m %s\n' "$*"; }

module=infra/tools/jaeger
bin=.naestro/bin/jaeger
stamp=.naestro/bin/jaeger.sum
want=$(sha256sum "$module/go.sum" | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "jaeger found: $bin"
  exit 0
fi
GO=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$GO" ] || { log "Go is needed to build Jaeger (install it, as for the Temporal CLI)"; exit 1; }
mkdir -p .naestro/bin
log "building Jaeger v1.76.0 from the Go module proxy (once; a few minutes)"
started=$SECONDS
(cd "$module" && "$GO" build -trimpath -o "../../../$bin" github.com/jaegertracing/jaeger/cmd/jaeger)
echo "$want" > "$stamp"
log "built $bin in $((SECONDS - started))s"
