#!/usr/bin/env bash
# Makes a helm v3 binary available for the chart tests and prints its path.
# Order: helm on PATH, then a cached build, then `go install` from the Go module
# proxy into the cache (slow the first time: helm is a large Go program).
# Idempotent: a second run finds the cached binary and returns at once.
set -euo pipefail

# Pinned so that test results do not drift with helm releases.
HELM_VERSION="${WEBSCALE_HELM_VERSION:-v3.22.0}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl"
BIN_DIR="$CACHE_DIR/bin"

if [[ -n "${HELM_BIN:-}" && -x "${HELM_BIN}" ]]; then
  echo "$HELM_BIN"
  exit 0
fi

if command -v helm >/dev/null 2>&1; then
  command -v helm
  exit 0
fi

if [[ -x "$BIN_DIR/helm" ]]; then
  echo "$BIN_DIR/helm"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    echo "ensure-helm: helm not found and no Go toolchain to build it" >&2
    exit 1
  fi
fi

mkdir -p "$BIN_DIR"
# A lock keeps two concurrent callers (e.g. parallel test workers) from
# building twice into the same place.
exec 9>"$CACHE_DIR/helm-build.lock"
flock 9
if [[ ! -x "$BIN_DIR/helm" ]]; then
  echo "ensure-helm: building helm $HELM_VERSION with go install (first run takes minutes)" >&2
  GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
    go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
fi
flock -u 9

echo "$BIN_DIR/helm"
