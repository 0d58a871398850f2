#!/usr/bin/env bash
# Runs each fuzz target (tests/fuzz/) under atheris/libFuzzer for SECONDS (default 60) and reports its
# executions per second; fails if any target found a crash or a mismatch, keeping the reproducer.
#
#   bash tools/fuzz.sh [SECONDS] [TARGET...]      targets: frame_decoder utf8 handshake connection inflate
#
# Starts from the seed corpus (tests/fuzz/corpus/<target>/, read only) plus what earlier runs found
# (build/fuzz/<target>/corpus/); failing inputs go to build/fuzz/<target>/ until the next run
# (WSFRAME_FUZZ_DIR moves it).
# Installs what it needs into .venv (see venv.sh), unless WSFRAME_FUZZ_PYTHON names a Python that has
# wsframe and atheris already (tools/sanitize.sh passes its sanitizer build that way).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(frame_decoder utf8 handshake connection inflate)
fi
if [ -n "${WSFRAME_FUZZ_PYTHON:-}" ]; then
    python=$WSFRAME_FUZZ_PYTHON
else
    source "$root/tools/venv.sh" "test,fuzz"
fi
work=${WSFRAME_FUZZ_DIR:-$root/build/fuzz}

failed=()
summary=()
for target in "${targets[@]}"; do
    dir="$work/$target"
    mkdir -p "$dir/corpus"
    rm -f "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/leak-*  # an earlier run's findings
    log="$dir/fuzz.log"
    echo "== fuzzing $target for ${seconds}s (log: $log)"
    start=$(date +%s)
    status=0
    # -timeout: an input that takes seconds is a finding too; -max_len: room for frame programs.
    "$python" "$root/tests/fuzz/run.py" "$target" -max_total_time="$seconds" -timeout=20 -max_len=8192 \
        -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    line="$target: ${elapsed}s, ${execs:-?} executions, ${rate:-?} execs/s, ${coverage:-cov: n/a}"
    reproducers=$(ls "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/leak-* 2>/dev/null || true)
    if [ "$status" -ne 0 ] || [ -n "$reproducers" ]; then
        line="$line: FAILED (exit $status)"
        failed+=("$target")
        grep -m1 -A12 -E "Uncaught Python exception|ERROR: AddressSanitizer|runtime error|ERROR: libFuzzer" "$log" \
            || tail -20 "$log"
        for reproducer in $reproducers; do
            echo "   reproducer: $reproducer, base64: $(base64 -w0 <"$reproducer" | head -c 12000)"
            echo "   replay: python tests/fuzz/run.py $target $reproducer"
            echo "   keep it as a test: cp $reproducer tests/fuzz/corpus/$target/regress-<what-it-is>"
        done
    fi
    summary+=("$line")
    echo "   $line"
done

echo "== fuzz summary"
printf '   %s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "no crash and no mismatch in ${#targets[@]} targets"
