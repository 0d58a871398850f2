# Sourced by the tools/ scripts: a virtual environment (.venv, or $WSFRAME_VENV) holding wsframe installed
# from this checkout in editable mode with the extra named in $1. The extension is required, so that a
# build failure fails the run instead of silently leaving only the pure-Python fallback.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${WSFRAME_VENV:-$root/.venv}
python="$venv/bin/python"

[ -x "$python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$python" -m pip install -q --upgrade pip
export WSFRAME_REQUIRE_EXTENSION=1
"$python" -m pip install -q -e "$root[$1]"
cd "$root"
