#!/usr/bin/env bash
# Builds the native extension with AddressSanitizer and UndefinedBehaviorSanitizer (clang) in a copy of
# the checkout, with its own virtual environment (build/sanitize/, WSFRAME_SANITIZE_DIR moves it), then
# runs the hot-path and connection tests and each fuzz target for SECONDS (default 30) over that build.
# Any sanitizer report fails the run. The normal build (.venv, the in-place extension) is left alone.
#
# Under the preloaded ASan runtime libFuzzer gets no coverage feedback (the runtime's no-op coverage
# hooks come first; atheris warns), so the fuzz targets here replay the seed corpus and what earlier
# coverage-guided runs of tools/fuzz.sh found (build/fuzz/<target>/corpus/), then mutate them blindly.
#
#   bash tools/sanitize.sh [SECONDS]
#
# Installs clang with apt-get where it is missing (CI runs as root on a fresh machine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
work=${WSFRAME_SANITIZE_DIR:-$root/build/sanitize}
python=${PYTHON:-python3}

if ! command -v clang >/dev/null; then
    echo "== installing clang"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang
fi
runtime=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so")
if [ ! -f "$runtime" ]; then
    echo "no ASan runtime at $runtime (clang's compiler-rt is missing)" >&2
    exit 1
fi

echo "== building the extension with -fsanitize=address,undefined in $work"
rm -rf "$work/src" "$work/reports"
mkdir -p "$work/src" "$work/reports"
# The checkout's files as they are now (committed or not), without builds, venvs or ignored files.
git -C "$root" ls-files -z --cached --others --exclude-standard \
    | (cd "$root" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
[ -x "$work/venv/bin/python" ] || "$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -UNDEBUG"
CC=clang LDSHARED="clang -shared" CFLAGS="$sanitize" LDFLAGS="$sanitize -shared-libsan" WSFRAME_REQUIRE_EXTENSION=1 \
    "$work/venv/bin/python" -m pip install -q -e "$work/src[test,fuzz]"
extension=$(ls "$work"/src/wsframe/_native*.so)
imports=$(nm -D --undefined-only "$extension")
for symbol in __asan_report_load __ubsan_handle; do
    if ! grep -q "$symbol" <<<"$imports"; then
        echo "$extension is not instrumented: no $symbol symbols" >&2
        exit 1
    fi
done

# -UNDEBUG above keeps CPython's inline assertions (e.g. PyBytes_AS_STRING on a non-bytes) in the extension.
# The runtime must be loaded before Python (which is not instrumented). CPython keeps memory until
# exit by design: no leak detection. A failing allocation returns NULL as without ASan (MemoryError),
# and PYTHONMALLOC=malloc lets ASan see every Python object, not only pymalloc's arenas.
export LD_PRELOAD=$runtime
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:log_path=$work/reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$work/reports/ubsan"
export PYTHONMALLOC=malloc
export WSFRAME_REQUIRE_EXTENSION=1

status=0
echo "== hot-path and connection tests over the sanitized extension"
(
    cd "$work/src"
    "$work/venv/bin/python" -m pytest -p no:cacheprovider -q tests/test_mask.py tests/test_utf8.py \
        tests/test_framing.py tests/test_decoder_safety.py tests/test_hotpath.py tests/test_connection.py tests/test_deflate.py \
        tests/test_fuzz_corpus.py
) || status=$?

echo "== fuzz targets over the sanitized extension, ${seconds}s each"
for found in "$root"/build/fuzz/*/corpus; do
    [ -d "$found" ] || continue
    target=$(basename "$(dirname "$found")")
    mkdir -p "$work/fuzz/$target/corpus"
    cp -n "$found"/* "$work/fuzz/$target/corpus/" 2>/dev/null || true
done
WSFRAME_FUZZ_PYTHON="$work/venv/bin/python" WSFRAME_FUZZ_DIR="$work/fuzz" bash "$work/src/tools/fuzz.sh" "$seconds" \
    || status=$?

# A report is an error; ASan's warnings about allocations it refused (MemoryError in Python) are not.
reports=$(grep -l -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$work"/reports/* 2>/dev/null \
    || true)
if [ -n "$reports" ]; then
    echo "== sanitizer reports"
    for report in $reports; do
        echo "--- $report"
        head -40 "$report"
    done
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "FAILED: sanitizer build, tests or fuzzing (see above)"
    exit "$status"
fi
echo "sanitizers: zero reports"
