#!/usr/bin/env bash
# Prints the directory of a Go toolchain new enough for the tools bootstrap builds (the
# Temporal CLI, Jaeger, kustomize): `go` on PATH or in /usr/local/go when it is at least
# $MIN, else Go $PINNED fetched once from the Go module proxy (the toolchain ships there as
# the module golang.org/toolchain, which `go` itself downloads for GOTOOLCHAIN) into
# .naestro/go. Callers put the printed directory on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=1.24
PINNED=1.26.8
log() { printf '\033[1m[go]\033[0m %s\n' "$*" >&2; }

new_enough() {  # $1: a go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  [ "$(printf '%s\n%s\n' "$MIN" "$v" | sort -V | head -n 1)" = "$MIN" ]
}

for go in "$(command -v go || true)" /usr/local/go/bin/go .naestro/go/bin/go; do
  if [ -n "$go" ] && [ -x "$go" ] && new_enough "$go"; then
    dirname "$(readlink -f "$go")"
    exit 0
  fi
done

case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *)
  log "no Go toolchain for $(uname -m): install Go >= $MIN"; exit 1 ;; esac
proxy=$(printf '%s' "${GOPROXY:-https://proxy.golang.org}" | cut -d, -f1)
url="$proxy/golang.org/toolchain/@v/v0.0.1-go$PINNED.linux-$arch.zip"
log "fetching Go $PINNED from the Go module proxy ($url)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$url" "$work/go.zip" "$work/out" <<'PY'
import os, sys, urllib.request, zipfile
url, archive, out = sys.argv[1:]
urllib.request.urlretrieve(url, archive)  # python3 is there before curl may be
with zipfile.ZipFile(archive) as z:
    for info in z.infolist():
        path = z.extract(info, out)
        if info.external_attr >> 16:  # the zip's Unix modes: keep the executables'
            os.chmod(path, (info.external_attr >> 16) & 0o777)
PY
rm -rf .naestro/go
mkdir -p .naestro
mv "$work/out/golang.org/toolchain@v0.0.1-go$PINNED.linux-$arch" .naestro/go
chmod +x .naestro/go/bin/* .naestro/go/pkg/tool/*/* 2>/dev/null || true
new_enough .naestro/go/bin/go || { log "the fetched Go does not run"; exit 1; }
log "Go $PINNED in .naestro/go"
echo "$PWD/.naestro/go/bin"
