#!/usr/bin/env bash
# Installs the Python side of the tests into a virtualenv outside the repo and prints the venv's
# python: the independent Avro implementation (fastavro), and pyarrow + datasets, which write the
# parquet fixtures and read back our parquet exports. Idempotent: a second run with the same pins
# only prints the path. Override the location with WEBSCALE_INTEROP_VENV.
set -euo pipefail
FASTAVRO_VERSION="${FASTAVRO_VERSION:-1.13.1}"
PINS="fastavro==$FASTAVRO_VERSION pyarrow==26.0.1 datasets==5.2.0"
VENV="${WEBSCALE_INTEROP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/interop-venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.webscale-pins"
if [[ -x "$PY" ]] && [[ "$(cat "$STAMP" 2>/dev/null)" == "$PINS" ]]; then
  echo "$PY"
  exit 0
fi
command -v python3 >/dev/null || { echo "interop: python3 not found" >&2; exit 1; }
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
# shellcheck disable=SC2086
"$PY" -m pip install --quiet --disable-pip-version-check $PINS >&2
echo "$PINS" > "$STAMP"
echo "$PY"
