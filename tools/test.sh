#!/usr/bin/env bash
# Runs the whole test suite in two passes: every test with the native extension (the hot-path tests
# cover both implementations), then the layers above the hot path again over the pure-Python fallback.
# Installs what it needs (see venv.sh). Extra arguments go to pytest, e.g. `bash tools/test.sh -x`.
set -euo pipefail
source "$(dirname "$0")/venv.sh" test

echo "== pass 1: every test; the hot path over both implementations, the layers above over the native one"
"$python" -m pytest tests "$@"
echo "== pass 2: the layers above the hot path over the pure-Python fallback (WSFRAME_PURE_PYTHON=1)"
WSFRAME_PURE_PYTHON=1 "$python" -m pytest tests "$@"
