#!/usr/bin/env bash
# Installs the Python side of the tests into a virtualenv outside the repo and prints the venv's
# python: the independent Avro implementation (fastavro), and pyarrow + datasets, which write the
# parquet fixtures and read back our parquet exports. Idempotent: a second run with the same pins
# only prints the path. Override the location with WEBSCALE_INTEROP_VENV.
#
# With --client it also installs the trainer client (clients/python, with its parquet and
# datasets extras), confluent-kafka, pytest and ruff into the same venv. The client is
# reinstalled whenever clients/python or schemas/ change (a content hash is the stamp), so the
# tests always run the package as `pip install ./clients/python` builds it, with the bundled
# schemas of this checkout. With WEBSCALE_TORCH=1 (CI sets it) torch is installed too, for the
# torch adapter's test; it is off by default because PyPI's Linux torch brings several GB of CUDA
# wheels (see the README), and without torch that one test is reported as skipped.
set -euo pipefail
FASTAVRO_VERSION="${FASTAVRO_VERSION:-1.13.1}"
PINS="fastavro==$FASTAVRO_VERSION pyarrow==26.0.1 datasets==5.2.0"
CLIENT_PINS="confluent-kafka==2.16.1 pytest==9.2.0 ruff==0.17.5"
if [[ "${WEBSCALE_TORCH:-0}" == "1" ]]; then CLIENT_PINS="$CLIENT_PINS torch==2.15.0"; fi
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl"
VENV="${WEBSCALE_INTEROP_VENV:-$CACHE/interop-venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.webscale-pins"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

# One install at a time: vitest files and pytest may ask for the venv at the same moment.
mkdir -p "$CACHE"
exec 9>"$CACHE/interop-setup.lock"
flock 9

if ! { [[ -x "$PY" ]] && [[ "$(cat "$STAMP" 2>/dev/null)" == "$PINS" ]]; }; then
  command -v python3 >/dev/null || { echo "interop: python3 not found" >&2; exit 1; }
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  # shellcheck disable=SC2086
  "$PY" -m pip install --quiet --disable-pip-version-check $PINS >&2
  echo "$PINS" > "$STAMP"
fi

if [[ "${1:-}" == "--client" ]]; then
  CLIENT_STAMP="$VENV/.webscale-client"
  tree_hash="$(cd "$ROOT" && find clients/python schemas -type f \
    -not -path '*/__pycache__/*' -not -path '*/.pytest_cache/*' -not -path '*/.ruff_cache/*' \
    -not -path '*/build/*' -not -path '*/dist/*' -not -name '*.egg-info' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
  want="$CLIENT_PINS $tree_hash"
  if [[ "$(cat "$CLIENT_STAMP" 2>/dev/null)" != "$want" ]]; then
    # shellcheck disable=SC2086
    "$PY" -m pip install --quiet --disable-pip-version-check $CLIENT_PINS >&2
    "$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$ROOT/clients/python" >&2
    # The extras' own dependencies (already pinned above, so this changes nothing it need not).
    "$PY" -m pip install --quiet --disable-pip-version-check "$ROOT/clients/python[parquet,datasets]" >&2
    echo "$want" > "$CLIENT_STAMP"
  fi
fi
echo "$PY"
