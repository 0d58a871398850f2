# Sourced by the tools/ scripts: a virtual environment (.venv, or $WSFRAME_VENV) holding wsframe installed
# from this checkout in editable mode with the extra named in $1. The extension is required, so that a
# build failure fails the run instead of silently leaving only the pure-Python fallback.
# An environment already installed from the same build inputs is used as it is (Python sources are
# editable; only the build files and src/ need a rebuild); pip's output is shown only when it fails.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${WSFRAME_VENV:-$root/.venv}
python="$venv/bin/python"
export WSFRAME_REQUIRE_EXTENSION=1

[ -x "$python" ] || "${PYTHON:-python3}" -m venv "$venv"
stamp="$venv/.wsframe-installed-$1"
inputs=$(cd "$root" && cat pyproject.toml setup.py src/*.pyx src/*.pxi src/*.h | sha256sum | cut -d' ' -f1)  # not the generated _native.c
if [ "$(cat "$stamp" 2>/dev/null)" != "$inputs $root" ] || ! "$python" -c 'import wsframe._native' 2>/dev/null; then
    echo "== installing wsframe[$1] into $venv (builds the extension)"
    log="$venv/pip-install.log"
    if ! { "$python" -m pip install -q --upgrade pip && "$python" -m pip install -q -e "$root[$1]"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "installing wsframe[$1] failed (log above, also in $log)" >&2
        exit 1
    fi
    echo "$inputs $root" >"$stamp"
fi
cd "$root"
