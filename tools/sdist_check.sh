#!/usr/bin/env bash
# Builds the sdist, then for every CPython 3.10-3.13 found (pyenv's, or python3.X on PATH): a wheel built
# from that sdist alone, installed into a fresh environment and tested with the sdist's own tests from
# outside the tree (so that only the installed package can be imported). Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python3}

"$python" -m venv "$work/build"
"$work/build/bin/python" -m pip install -q --upgrade pip build
"$work/build/bin/python" -m build -q --sdist -o "$work/dist" "$root" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/wsframe-*.tar.gz)
tar -xzf "$sdist" -C "$work"
unpacked=$(ls -d "$work"/wsframe-*/)
echo "== sdist $(basename "$sdist"): $(tar -tzf "$sdist" | wc -l) files"

found=0
for minor in 10 11 12 13; do
    candidate=$(ls -d /root/.pyenv/versions/3.$minor.*/bin/python3.$minor 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$candidate" ] || candidate=$(command -v "python3.$minor" || true)
    [ -n "$candidate" ] || { echo "== CPython 3.$minor: not on this machine"; continue; }
    found=$((found + 1))
    echo "== CPython 3.$minor ($candidate): wheel from the sdist, installed, its tests"
    env="$work/py3$minor"
    "$candidate" -m venv "$env"
    "$env/bin/python" -m pip install -q --upgrade pip
    WSFRAME_REQUIRE_EXTENSION=1 "$env/bin/python" -m pip wheel -q --no-deps -w "$work/wheels3$minor" "$sdist"
    "$env/bin/python" -m pip install -q "$(ls "$work"/wheels3$minor/wsframe-*.whl)[test]"
    (
        cd "$work"  # outside the trees: `import wsframe` can only find the installed wheel
        "$env/bin/python" -c 'import wsframe, sys; print("installed:", wsframe.__file__, wsframe.IMPLEMENTATION); sys.exit(wsframe.IMPLEMENTATION != "native")'
        WSFRAME_REQUIRE_EXTENSION=1 "$env/bin/python" -m pytest "$unpacked/tests" -p no:cacheprovider -q \
            --ignore "$unpacked/tests/test_benchmarks.py" -m "not browser" "$@"
    )
done
[ "$found" -gt 0 ] || { echo "no CPython 3.10-3.13 found"; exit 1; }
