#!/usr/bin/env bash
# Runs the whole test suite against both hot-path implementations (native extension and pure-Python
# fallback), in two passes. Installs what it needs: a virtual environment (.venv, or $WSFRAME_VENV) with wsframe
# installed from this checkout in editable mode, the extension required, plus pytest and hypothesis.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -k utf8 -x`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${WSFRAME_VENV:-$root/.venv}

[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# Editable install compiles the extension next to the sources; it is required here, so that a build
# failure fails the run instead of silently testing only the pure-Python fallback.
export WSFRAME_REQUIRE_EXTENSION=1
"$venv/bin/python" -m pip install -q -e "$root[test]"

cd "$root"
echo "== pass 1: every test; hot-path tests over both implementations, the layers above over the native one"
"$venv/bin/python" -m pytest tests "$@"
echo "== pass 2: the layers above the hot path over the pure-Python fallback (WSFRAME_PURE_PYTHON=1)"
WSFRAME_PURE_PYTHON=1 "$venv/bin/python" -m pytest tests "$@"
