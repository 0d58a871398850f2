#!/usr/bin/env bash
# Type checks, with the mypy version pinned below installed into the dev environment (see venv.sh):
# mypy --strict over the whole package with pyproject.toml's [tool.mypy] configuration, then mypy's
# stubtest, which checks wsframe/_native.pyi against the built extension (tests/test_stub.py checks it
# against the fallback).
# uvicorn (the version tools/uvicorn_suite.sh tests) is installed too, for wsframe.integrations.uvicorn's
# imports of it. Extra arguments go to mypy.
set -euo pipefail
source "$(dirname "$0")/venv.sh" test
mypy_version=2.4.1
uvicorn_version=0.54.0
installed=$("$python" -c 'import mypy.version, uvicorn; print(mypy.version.__version__, uvicorn.__version__)' 2>/dev/null || true)
if [ "$installed" != "$mypy_version $uvicorn_version" ]; then
    echo "== installing mypy $mypy_version and uvicorn $uvicorn_version into $venv"
    "$python" -m pip install -q "mypy==$mypy_version" "uvicorn==$uvicorn_version"
fi
echo "== mypy --strict (pyproject.toml [tool.mypy])"
"$python" -m mypy "$@"
echo "== stubtest: wsframe/_native.pyi against the built extension"
"$python" -m mypy.stubtest --mypy-config-file pyproject.toml --allowlist tools/stubtest_allowlist.txt wsframe._native
