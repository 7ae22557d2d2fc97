#!/usr/bin/env bash
# Installs the independent Avro implementation of the interop tests (Python fastavro, from PyPI)
# into a virtualenv outside the repo and prints the venv's python. Idempotent: a second run only
# prints the path. Override the location with WEBSCALE_INTEROP_VENV.
set -euo pipefail
FASTAVRO_VERSION="${FASTAVRO_VERSION:-1.13.1}"
VENV="${WEBSCALE_INTEROP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/interop-venv}"
PY="$VENV/bin/python"
if [[ -x "$PY" ]] && "$PY" -c "import fastavro, sys; sys.exit(0 if fastavro.__version__ == '$FASTAVRO_VERSION' else 1)" 2>/dev/null; then
  echo "$PY"
  exit 0
fi
command -v python3 >/dev/null || { echo "interop: python3 not found" >&2; exit 1; }
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
"$PY" -m pip install --quiet --disable-pip-version-check "fastavro==$FASTAVRO_VERSION" >&2
echo "$PY"
