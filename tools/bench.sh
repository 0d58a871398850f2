#!/usr/bin/env bash
# Runs the benchmark suite: wsframe (native and fallback) against the peers of the `bench` extra.
# Installs what it needs (see venv.sh). Extra arguments go to `python -m benchmarks`, e.g. `--quick`.
set -euo pipefail
source "$(dirname "$0")/venv.sh" bench

"$python" -m benchmarks "$@"
