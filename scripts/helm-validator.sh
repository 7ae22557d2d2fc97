#!/usr/bin/env bash
# Makes the `kubernetes-validate` CLI (PyPI; ships the Kubernetes JSON schemas, so validation is
# offline) available for the chart tests and prints its path. Installs it into a venv in the cache
# on first use. Idempotent.
set -euo pipefail

KV_VERSION="${WEBSCALE_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl"
VENV="$CACHE_DIR/kv-venv"
BIN="$VENV/bin/kubernetes-validate"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/kv-install.lock"
flock 9
if [[ ! -x "$BIN" ]]; then
  echo "helm-validator: installing kubernetes-validate $KV_VERSION into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" >&2
fi
flock -u 9
echo "$BIN"
