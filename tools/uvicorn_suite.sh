#!/usr/bin/env bash
# uvicorn's own WebSocket tests, judging wsframe's uvicorn protocol (wsframe.integrations.uvicorn).
#
# In a fresh virtual environment: wsframe from this checkout (editable, extension required) and the
# pinned test requirements of uvicorn's sdist (its pyproject's dev group); then the pinned uvicorn sdist is
# downloaded and unpacked into a temporary directory and its tests run from there, unchanged, with our
# plugin (tools/uvicorn_suite/wsframe_uvicorn_plugin.py) adding wsframe's class to the parametrization of
# uvicorn's `ws_protocol_cls` fixture. Every test runs for uvicorn's `wsproto` and `websockets-sansio`
# protocols and for `wsframe`, over each HTTP protocol (httptools, h11, zttp). The plugin prints the
# outcomes per class and fails the run when wsframe fails a test one of uvicorn's classes passes.
# Their test code stays theirs: nothing of it is copied into this repository.
#
# Then uvicorn's tests again for wsframe's class over the pure-Python fallback, and wsframe's own
# tests/test_uvicorn_integration.py over both hot paths. Extra arguments go to pytest on uvicorn's tests
# (e.g. `-x`, or `-k wsframe` for wsframe's class only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

UVICORN_VERSION=0.54.0
# uvicorn 0.54.0's test requirements (pyproject.toml [dependency-groups] dev, and the `standard` extra's
# websockets and httptools), pinned to the versions tested here; wsproto and zttp add their protocols.
REQUIREMENTS=(
    "pytest==9.2.0"
    "pytest-mock==3.15.1"
    "anyio==4.16.0"
    "httpx2==2.16.2"
    "websockets==17.4"
    "wsproto==1.3.2"
    "httptools==0.9.0"
    "zttp==0.0.35"
    "h11==0.16.0"
    "click==8.5.1"
    "trustme==1.2.1"
    "cryptography==50.0.2"
)
TESTS=(
    tests/protocols/test_websocket.py
    # The WebSocket parts of test_http.py: the tests that take the ws_protocol_cls fixture.
    tests/protocols/test_http.py::test_keepalive_timeout_with_pipelined_websocket_upgrade
    tests/protocols/test_http.py::test_http2_upgrade_request
    tests/middleware/test_logging.py
    tests/middleware/test_proxy_headers.py
)
# Tests that check for one of uvicorn's own classes by identity, which wsframe's class cannot pass
# (pytest's --deselect takes node id prefixes: these cover every HTTP protocol). What they check besides
# is checked for wsframe in tests/test_uvicorn_integration.py.
DESELECT=(
    # `assert isinstance(protocol, (_WSProtocol, WebSocketsSansIOProtocol))`, then no ping timer
    "tests/protocols/test_websocket.py::test_server_keepalive_disabled[wsframe"
    # `assert isinstance(protocol, (_WSProtocol, WebSocketsSansIOProtocol))`, then a ping answered in time
    "tests/protocols/test_websocket.py::test_server_keepalive_ping_pong[wsframe"
)

echo "== uvicorn suite: environment in $work/venv"
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q)
"${pip[@]}" --upgrade pip
"${pip[@]}" "${REQUIREMENTS[@]}"
WSFRAME_REQUIRE_EXTENSION=1 "${pip[@]}" -e "$root"

echo "== uvicorn suite: uvicorn $UVICORN_VERSION sdist"
"$work/venv/bin/python" -m pip download -q --no-deps --no-binary :all: -d "$work/sdist" "uvicorn==$UVICORN_VERSION"
tar -xzf "$work/sdist/uvicorn-$UVICORN_VERSION.tar.gz" -C "$work/sdist"
source_dir="$work/sdist/uvicorn-$UVICORN_VERSION"
"${pip[@]}" --no-deps "$source_dir"

deselect=()
for prefix in "${DESELECT[@]}"; do deselect+=(--deselect "$prefix"); done
run_uvicorn_tests() {
    # Their addopts minus `-n 8` (pytest-xdist; this machine has 2 cores); their filterwarnings=error stays.
    # `timeout`: a hung test must not hold CI.
    (cd "$source_dir" && PYTHONPATH="$root/tools/uvicorn_suite" timeout 900 "$work/venv/bin/python" -m pytest \
        -p wsframe_uvicorn_plugin -p no:cacheprovider -o addopts="-rxXs --strict-config --strict-markers" \
        "${deselect[@]}" "${TESTS[@]}" "$@")
}
echo "== uvicorn suite: uvicorn's tests, every protocol class, wsframe over its native hot path (about 2 min)"
run_uvicorn_tests "$@"
echo "== uvicorn suite: uvicorn's tests, wsframe's class only, over the pure-Python fallback (about 40 s)"
WSFRAME_PURE_PYTHON=1 run_uvicorn_tests -k wsframe "$@"

echo "== uvicorn suite: uvicorn's wsproto protocol on wsframe.compat.wsproto (import alias), both hot paths"
# The same tests, only uvicorn's wsproto class, with `import wsproto` answered by wsframe's compat module.
for pure in 0 1; do
    (cd "$source_dir" && WSFRAME_PURE_PYTHON=$pure PYTHONPATH="$root/tools" timeout 900 "$work/venv/bin/python" -m pytest \
        -p wsproto_alias -p no:cacheprovider -o addopts="-rxXs --strict-config --strict-markers" \
        -k wsproto "${TESTS[@]}" "$@")
done

echo "== wsframe's own tests of the uvicorn protocol (tests/test_uvicorn_integration.py), both hot paths"
cd "$root"
"$work/venv/bin/python" -m pytest tests/test_uvicorn_integration.py -p no:cacheprovider -q
WSFRAME_PURE_PYTHON=1 "$work/venv/bin/python" -m pytest tests/test_uvicorn_integration.py -p no:cacheprovider -q
