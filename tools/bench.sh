#!/usr/bin/env bash
# Runs the benchmark suite: wsframe (native and fallback) against the peers of the `bench` extra.
# Installs what it needs into a virtual environment (.venv, or $WSFRAME_VENV), the same one as
# tools/test.sh. Extra arguments go to `python -m benchmarks`, e.g. `bash tools/bench.sh --quick`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WSFRAME_VENV:-$root/.venv}

[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
export WSFRAME_REQUIRE_EXTENSION=1
"$venv/bin/python" -m pip install -q -e "$root[bench]"

cd "$root"
"$venv/bin/python" -m benchmarks "$@"
