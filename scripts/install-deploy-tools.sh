#!/usr/bin/env bash
# The deployment checks' tools, idempotently, into .naestro/bin (tests/infra/test_deploy.py
# uses them; scripts/bootstrap.sh runs this):
#   - kustomize       renders infra/k8s (go install from the Go module proxy)
#   - kubeconform     validates the rendered manifests (go install from the Go module proxy)
#   - k8s-schemas     infra/k8s/schemas: Kubernetes' own OpenAPI document -> one strict JSON
#                     schema per kind, written to .naestro/k8s-schemas/v$KUBERNETES_VERSION
#                     (kubeconform would download schemas from GitHub at run time; these come
#                     from api/openapi-spec/swagger.json of the k8s.io/kubernetes module, which
#                     `go mod download` fetches from the Go module proxy)
#   - docker-compose  Debian's package (1.29.2), for `docker-compose config` per profile
# Docker itself (and its daemon) comes from scripts/sandbox-setup.sh.
# A tool whose pinned version is already there is not built again; bump a pin to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

KUSTOMIZE_VERSION=v5.8.2        # v5.8.3 needs Go 1.27
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=1.37.2       # the API schemas validated against (k8s.io/kubernetes module)

bin="$PWD/.naestro/bin"
schemas="$PWD/.naestro/k8s-schemas/v$KUBERNETES_VERSION"
mkdir -p "$bin"
log() { printf '\033[1m[deploy-tools]\033[0m %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "please run as root: $*"; return 1; fi
}

go_bin() {
  if command -v go >/dev/null; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else log "Go is needed (https://go.dev/dl, or Debian's golang-go)"; return 1; fi
}

# go_tool NAME MODULE@VERSION: build into .naestro/bin unless .naestro/bin/NAME.version says
# this exact module version is already there. One package at a time (-p 1): the machine may be
# busy with other work, and the build is done once.
go_tool() {
  local name=$1 module=$2 stamp="$bin/$1.version"
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then
    log "$name: $module (built before)"; return 0
  fi
  log "building $name: go install $module"
  GOBIN="$bin" GOFLAGS=-p=1 "$(go_bin)" install "$module"
  echo "$module" >"$stamp"
}

go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

# The schema generator is ours (stdlib only); rebuilt when its source changes.
gen_hash=$(cat infra/k8s/schemas/go.mod infra/k8s/schemas/main.go | sha256sum | cut -c1-16)
if [ ! -x "$bin/k8s-schemas" ] || [ "$(cat "$bin/k8s-schemas.version" 2>/dev/null)" != "$gen_hash" ]; then
  log "building k8s-schemas (infra/k8s/schemas)"
  (cd infra/k8s/schemas && GOBIN="$bin" "$(go_bin)" install .)
  echo "$gen_hash" >"$bin/k8s-schemas.version"
  rm -rf "$schemas"
fi
if [ ! -f "$schemas/deployment-apps-v1.json" ]; then
  log "Kubernetes v$KUBERNETES_VERSION schemas: go mod download k8s.io/kubernetes@v$KUBERNETES_VERSION"
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod "$(go_bin)" mod download -json \
    "k8s.io/kubernetes@v$KUBERNETES_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -f "$dir/api/openapi-spec/swagger.json" ] || {
    log "no api/openapi-spec/swagger.json in k8s.io/kubernetes@v$KUBERNETES_VERSION"; exit 1; }
  rm -rf "$schemas.tmp"
  "$bin/k8s-schemas" "$dir/api/openapi-spec/swagger.json" "$schemas.tmp" >/dev/null
  mv "$schemas.tmp" "$schemas"
fi
log "schemas: $schemas ($(find "$schemas" -name '*.json' | wc -l) kinds)"

if ! command -v docker-compose >/dev/null; then
  log "installing Debian's docker-compose"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends \
    docker-compose >/dev/null
fi
log "docker-compose: $(docker-compose version --short 2>/dev/null || echo '?')"
log "kustomize: $("$bin/kustomize" version 2>/dev/null)"
log "kubeconform: $(cat "$bin/kubeconform.version")"
