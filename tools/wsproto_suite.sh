#!/usr/bin/env bash
# wsproto 1.3.2's own test suite, run against wsframe.compat.wsproto through the import alias
# (tools/wsproto_alias.py), over both hot-path implementations. Their tests come from the pinned sdist
# into a temporary directory and are never copied into this repository.
#
# Deselected: the tests of wsproto internals that wsframe replaces. They drive wsproto's FrameProtocol
# and PerMessageDeflate's per-frame hooks, reading its private _enabled/_compressor/_decompressor;
# here wsframe.deflate compresses and inflates (tests/test_deflate.py, tests/test_compat_wsproto.py).
# tests/test_frame_protocol.py (wsproto's frame parser) is not run at all, for the same reason.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version=1.3.2
sha256=b86885dcf294e15204919950f666e06ffc6c7c114ca900b060d6e16293528294
internals=(
    test_inbound_uncompressed_control_frame
    test_inbound_compressed_control_frame
    test_inbound_compressed_continuation_frame
    test_inbound_uncompressed_data_frame
    test_client_inbound_compressed_single_data_frame
    test_client_inbound_compressed_multiple_data_frames
    test_client_decompress_after_uncompressible_frame
    test_inbound_bad_zlib_payload
    test_inbound_bad_zlib_decoder_end_state
    test_decompressor_reset
    test_outbound_uncompressible_opcode
    test_outbound_compress_single_frame
    test_outbound_compress_multiple_frames
    test_compressor_reset
)
deselect=()
for name in "${internals[@]}"; do
    deselect+=(--deselect "tests/test_permessage_deflate.py::TestPerMessageDeflate::$name")
done

"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --upgrade pip
# wsframe from this checkout (extension required), and what their tests import, pinned.
WSFRAME_REQUIRE_EXTENSION=1 "$py" -m pip install -q "$root" "pytest==8.3.5" "h11==0.16.0"
"$py" -m pip download -q --no-deps --no-binary :all: -d "$work" "wsproto==$version"
echo "$sha256  $work/wsproto-$version.tar.gz" | sha256sum -c --quiet
tar -xzf "$work/wsproto-$version.tar.gz" -C "$work"
rm -rf "$work/wsproto-$version/src"  # only the alias may answer `import wsproto`

cd "$work/wsproto-$version"
for impl in native fallback; do
    pure=$([ $impl = fallback ] && echo 1 || echo 0)
    echo "== wsproto $version's tests on wsframe.compat.wsproto ($impl hot path)"
    WSFRAME_PURE_PYTHON=$pure "$py" -c "import sys, wsframe; sys.exit(wsframe.IMPLEMENTATION != '$impl')"
    WSFRAME_PURE_PYTHON=$pure PYTHONPATH="$root/tools" timeout 600 "$py" -m pytest -p wsproto_alias \
        -p no:cacheprovider -q -rfE \
        tests/test_client.py tests/test_server.py tests/test_connection.py tests/test_handshake.py \
        tests/test_extensions.py tests/test_permessage_deflate.py "${deselect[@]}"
done
