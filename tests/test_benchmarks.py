"""The benchmark harness (``python -m benchmarks``): it runs, checks outputs, and reports every implementation.

No timing assertions: only that rows exist, have positive times, and that wrong outputs become error rows.
"""

import asyncio
import importlib
import io
import itertools
import json
import os

import pytest

from benchmarks import __main__ as cli
from benchmarks import harness, kernels

TINY = harness.Settings(repeats=2, repeat_ns=200_000)


def _importable(module_name):
    try:
        importlib.import_module(module_name)
    except Exception:
        return False
    return True


def test_quick_run_reports_every_available_implementation(tmp_path, capsys):
    path = tmp_path / "results.json"
    assert cli.main(["--quick", "--only", "125 B", "--json", str(path)]) == 0
    document = json.loads(path.read_text(encoding="utf-8"))
    declared = {f.name: f for f in kernels.families()}

    for family in document["families"]:
        rows = family["rows"]
        for row in rows:
            assert row["error"] is None, row
            assert row["median_ns"] > 0 and row["min_ns"] > 0 and all(t > 0 for t in row["per_call_ns"]), row
        expected = {(b.workload, b.implementation) for b in declared[family["name"]].benches if "125 B" in b.workload}
        assert {(row["workload"], row["implementation"]) for row in rows} == expected
        implementations = {row["implementation"] for row in rows}
        # Always there: the fallback and the references; the native rows exactly when the extension imports.
        assert any(name.startswith("wsframe fallback") for name in implementations)
        assert any(row["reference"] for row in rows)
        assert any(name.startswith("wsframe native") for name in implementations) == _importable("wsframe._native")
        assert family["skipped"] == declared[family["name"]].skipped

    report = capsys.readouterr().out
    assert "| mask 125 B | wsframe fallback mask |" in report and "## Targets" in report


def test_only_combines_workload_and_implementation_patterns(tmp_path):
    families = kernels.families()
    selected = harness.select(families, ["mask 4 kib", "fallback"])
    benches = [b for f in selected for b in f.benches]
    assert benches
    assert {b.workload for b in benches} == {"mask 4 KiB"}
    # The fallback rows, plus the reference row that the ratios need.
    assert all("fallback" in b.implementation or b.reference for b in benches)
    assert any(b.reference for b in benches)
    with pytest.raises(ValueError, match="no-such-thing"):
        harness.select(families, ["no-such-thing"])
    assert cli.main(["--quick", "--only", "no-such-thing", "--json", str(tmp_path / "x.json")]) == 2


def _masking_bench(stmt, fn, kind="new", size=125):
    payload = bytes(range(size % 256)) * (size // 256) + bytes(range(size % 256))
    payload = payload[:size]
    masker = kernels.Masker("candidate", lambda: fn, stmt, kind)
    data = kernels.INPUT_TYPES[kind](payload)
    namespace = {"fn": fn, "data": data, "key": kernels.MASK_KEY}
    expected = payload if kind == "copy" else kernels.reference_mask(payload, kernels.MASK_KEY)
    check = kernels.mask_check(masker, namespace, payload, expected)
    return harness.Bench("mask test", "candidate", size, stmt, namespace, check)


def _in_place_reference(data, key):
    data[:] = kernels.reference_mask(bytes(data), key)


@pytest.mark.parametrize(
    "stmt, fn, kind",
    [
        ("fn(data, key)", kernels.reference_mask, "new"),
        ("fn(data, key)", _in_place_reference, "in place"),
        ("data.tobytes()", None, "copy"),
    ],
)
def test_correct_implementation_is_timed(stmt, fn, kind):
    result = harness.measure(_masking_bench(stmt, fn, kind), TINY)
    assert result.ok, result.error
    assert result.loops >= 1 and len(result.per_call_ns) == TINY.repeats and result.min_ns > 0


@pytest.mark.parametrize(
    "stmt, fn, kind, complaint",
    [
        ("data", None, "new", "its input"),  # returns its input instead of a new masked object
        ("fn(data, key)", lambda data, key: bytes(len(data)), "new", "wrong output"),
        ("fn(data, key)", lambda data, key: kernels.reference_mask(data, key)[:-1], "new", "wrong output"),
        ("fn(data, key)", lambda data, key: None, "in place", "wrong output"),  # does nothing
        ("data", None, "copy", "its input"),  # "copies" by returning the view itself
        ("fn(data)", memoryview, "copy", "not bytes"),  # a new object, but not a copy
        ("fn(data, key)", lambda data, key: 1 / 0, "new", "ZeroDivisionError"),
    ],
)
def test_wrong_masking_output_is_an_error_row(stmt, fn, kind, complaint):
    result = harness.measure(_masking_bench(stmt, fn, kind), TINY)
    assert not result.ok and not result.per_call_ns
    assert "output check failed" in result.error and complaint in result.error


@pytest.mark.parametrize(
    "verdict, ok",
    [
        (lambda data: kernels.decodes(data), True),
        (lambda data: True, False),  # accepts everything
        (lambda data: not data.endswith(b"\xff"), False),  # only looks at the end
        (lambda data: b"\xff" not in data[:64], False),  # only looks at the start
        (lambda data: 1 if kernels.decodes(data) else 0, False),  # not a bool verdict
    ],
)
def test_utf8_check_compares_verdicts_with_bytes_decode(verdict, ok):
    text = kernels.mixed_text(1000)
    bench = harness.Bench("utf8 test", "candidate", len(text), "fn(data)", {"fn": verdict, "data": text}, kernels.utf8_check(verdict, text))
    result = harness.measure(bench, TINY)
    assert result.ok is ok, result.error


def test_texts_are_deterministic_valid_and_exactly_sized():
    for size in (1, 125, 4096):
        for make in (kernels.ascii_text, kernels.mixed_text):
            text = make(size)
            assert len(text) == size and text == make(size)
            text.decode("utf-8")
    mixed = kernels.mixed_text(4096)
    assert sum(byte >= 0x80 for byte in mixed) > len(mixed) // 2
    assert {len(ch.encode()) for ch in mixed.decode()} == {1, 2, 3, 4}
    multibyte = kernels.multibyte_text(4096)
    assert len(multibyte) == 4096 and multibyte == kernels.multibyte_text(4096)
    characters = multibyte.decode()
    assert sum(len(ch.encode()) > 1 for ch in characters) > 0.8 * len(characters)  # most are multi-byte


def test_multibyte_fragments_cut_characters_and_reassemble():
    stream = streams.stream_fragmented(20, multibyte=True)
    frames = streams.parse_frames(b"".join(stream.reads))
    texts = streams.multibyte_texts(20)
    assert stream.total_length == sum(map(len, texts)) and stream.last == texts[-1].encode()
    data = [payload for _, _, op, payload in frames if op in (streams.TEXT, streams.CONTINUATION)]
    assert b"".join(data[-4:]) == stream.last and all(len(piece) == 64 for piece in data)
    for piece in data[:4]:  # every border of a message falls inside a character
        if piece is not data[0]:
            assert 0x80 <= piece[0] < 0xC0


# --- streams, building, deflate, handshakes, echo -------------------------------------------------

from benchmarks import echo, report, streams  # noqa: E402

NEW_FAMILIES = ("streams", "building", "deflate", "handshake", "echo")


def _declared(quick=True):
    return {f.name: f for module in (streams, echo) for f in module.families(quick=quick)}


def test_quick_run_of_the_new_families_reports_every_available_implementation(tmp_path, capsys):
    declared = _declared()
    patterns = ["stream", "build", "handshake"] + (["echo"] if declared.get("echo") and declared["echo"].benches else [])
    path = tmp_path / "results.json"
    assert cli.main(["--quick", "--malloc", "dynamic", "--no-charts", "--only", ",".join(patterns), "--json", str(path)]) == 0
    document = json.loads(path.read_text(encoding="utf-8"))
    measured = {family["name"]: family for family in document["families"]}
    assert {"streams", "building", "deflate", "handshake"} <= set(measured)
    for name, family in measured.items():
        if name not in NEW_FAMILIES:
            continue
        rows = family["rows"]
        for row in rows:
            assert row["error"] is None, row
            assert row["median_ns"] > 0 and row["items"] > 0 and row["rate_median"] > 0, row
        assert {(r["workload"], r["implementation"]) for r in rows} == {(b.workload, b.implementation) for b in declared[name].benches}
        assert family["skipped"] == declared[name].skipped
    # wsframe's two hot paths are measured in every in-process family, with or without peers.
    for name in ("streams", "building", "deflate", "handshake"):
        implementations = {row["implementation"] for row in measured[name]["rows"]}
        assert streams.FALLBACK in implementations
        assert (streams.NATIVE in implementations) == _importable("wsframe._native")
    # A peer row exists exactly when the peer imports; otherwise a skip note names it.
    for peer in ("websockets", "aiohttp", "wsproto", "picows"):
        implementations = {row["implementation"] for row in measured["streams"]["rows"]}
        assert (peer in implementations) == _importable(peer), peer
        assert (peer in implementations) != any(peer in note for note in measured["streams"]["skipped"])
    report_text = capsys.readouterr().out
    assert "msg/s (median)" in report_text and "page faults/call" in report_text and "- tools: " in report_text


def test_wsframe_connection_module_binds_each_hot_path():
    fallback = importlib.import_module("wsframe._fallback")
    module = streams.wsframe_connection_module(streams.FALLBACK)
    assert module.FrameDecoder is fallback.FrameDecoder and module.encode_frame is fallback.encode_frame
    if _importable("wsframe._native"):
        native = importlib.import_module("wsframe._native")
        module = streams.wsframe_connection_module(streams.NATIVE)
        assert module.FrameDecoder is native.FrameDecoder and module.encode_frame is native.encode_frame


def test_reference_framing_round_trips_and_streams_hold_what_they_claim():
    key = b"\x01\x02\x03\x04"
    for size in (0, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        for mask_key in (None, key):
            frame = streams.reference_frame(streams.BINARY, payload, fin=False, rsv=4, mask_key=mask_key)
            assert streams.parse_frames(frame) == [(False, 4, streams.BINARY, payload)]
    with pytest.raises(ValueError):
        streams.parse_frames(streams.reference_frame(streams.TEXT, b"abc")[:-1])
    stream = streams.stream_fragmented(250)
    frames = streams.parse_frames(b"".join(stream.reads))
    assert len(frames) == 250 * 4 + 2 and sum(op == streams.PING for _, _, op, _ in frames) == 2
    assert stream.pong_bytes == 2 * (2 + streams.PING_PAYLOAD_SIZE) and stream.total_length == 250 * 256
    assert all(len(read) <= streams.READ_SIZE for read in stream.reads)
    small = streams.stream_small(100, compressed=True)
    inflater = __import__("zlib").decompressobj(-streams.DEFLATE_WBITS)
    payloads = [inflater.decompress(p + b"\x00\x00\xff\xff") for _, rsv, _, p in streams.parse_frames(b"".join(small.reads))]
    assert payloads[-1] == small.last and sum(map(len, payloads)) == small.total_length == 100 * 32


def _honest_run(stream):
    def run(reads):
        frames = streams.parse_frames(b"".join(reads))
        messages = [p for fin, _, op, p in frames if op in (streams.TEXT, streams.BINARY)]
        return len(messages), sum(map(len, messages)), messages[-1], 0

    return run


@pytest.mark.parametrize(
    "cheat, complaint",
    [
        (lambda result: result, None),
        (lambda result: (result[0] - 1, *result[1:]), "messages"),  # drops one
        (lambda result: (result[0], result[1] - 1, *result[2:]), "bytes of messages"),  # truncates one
        (lambda result: (*result[:2], result[2][:-1] + b"?", result[3]), "wrong last message"),
        (lambda result: (*result[:3], 10), "pongs"),  # pongs nobody asked for
    ],
)
def test_stream_check_catches_dropped_truncated_or_wrong_messages(cheat, complaint):
    stream = streams.stream_small(50)
    honest = _honest_run(stream)
    run = lambda reads: cheat(honest(reads))  # noqa: E731
    bench = harness.Bench("stream test", "candidate", stream.wire_bytes, "run(reads)", {"run": run, "reads": stream.reads}, streams.summary_check(run, stream))
    result = harness.measure(bench, TINY)
    if complaint is None:
        assert result.ok, result.error
    else:
        assert not result.ok and complaint in result.error


@pytest.mark.parametrize(
    "masked, compressed, build, ok",
    [
        (False, False, lambda ms: [streams.reference_frame(streams.TEXT, m.encode()) for m in ms], True),
        (True, False, lambda ms: [streams.reference_frame(streams.TEXT, m.encode(), mask_key=b"abcd") for m in ms], True),
        (True, False, lambda ms: [streams.reference_frame(streams.TEXT, m.encode()) for m in ms], False),  # client frames unmasked
        (False, False, lambda ms: [streams.reference_frame(streams.BINARY, m.encode()) for m in ms], False),  # wrong opcode
        (False, False, lambda ms: [streams.reference_frame(streams.TEXT, m.encode()) for m in ms[:-1]], False),  # one missing
        (False, True, lambda ms: [streams.reference_frame(streams.TEXT, m.encode()) for m in ms], False),  # not compressed
    ],
)
def test_build_check_parses_and_compares_every_frame(masked, compressed, build, ok):
    messages = streams.small_texts(20)
    bench = harness.Bench(
        "build test", "candidate", 640, "run(messages)", {"run": build, "messages": messages},
        streams.build_check(build, messages, masked=masked, compressed=compressed),
    )  # fmt: skip
    assert harness.measure(bench, TINY).ok is ok


def _document(rows, quick=True):
    return {
        "settings": {"quick": quick},
        "machine": {"cpu": "test"},
        "families": [{"name": "streams", "title": "t", "rate_unit": "msg/s", "rows": rows}],
    }


def _row(implementation, median_ns, *, peer=False, items=1000):
    return {
        "workload": "stream S", "implementation": implementation, "error": None, "median_ns": median_ns,
        "min_ns": median_ns * 0.9, "items": items, "bytes": 32 * items, "peer": peer, "reference": False,
    }  # fmt: skip


def _external_benches(workload, times):
    """Benches of one workload measured "elsewhere": each call takes the next time of its implementation's
    list and logs (implementation, repeats asked); a time of None fails the call."""
    log = []

    def bench(name):
        queue = list(times[name])

        def external(settings):
            log.append((name, settings.repeats))
            per_call = [queue.pop(0) for _ in range(settings.repeats)]
            if None in per_call:
                raise RuntimeError("server gone")
            return per_call

        return harness.Bench(workload, name, 1, "", {}, lambda: None, external=external)

    return [bench(name) for name in times], log


def test_interleaved_family_takes_turns_one_repeat_each_in_rotating_order():
    benches, log = _external_benches("w", {"a": [1, 2, 3], "b": [10, 20, 30], "c": [100, None, 300]})
    other, other_log = _external_benches("v", {"d": [5, 6, 7]})
    family = harness.Family("f", "F", benches + other, [], lambda results: [], repeats=3, interleaved=True)
    [results] = harness.run([family], harness.Settings(repeats=7, repeat_ns=1), progress=io.StringIO())

    # Workload by workload; within one, a repeat per row per round, round r starting at row r.
    assert log == [("a", 1), ("b", 1), ("c", 1), ("b", 1), ("c", 1), ("a", 1), ("a", 1), ("b", 1)]
    assert other_log == [("d", 1)] * 3
    assert results.get("w", "a").per_call_ns == [1, 2, 3] and results.get("w", "b").per_call_ns == [10, 20, 30]
    failed = [r for r in results.all if r.bench.implementation == "c"][0]
    assert not failed.ok and "server gone" in failed.error and failed.per_call_ns == []  # no half a row
    assert [r.bench.implementation for r in results.all] == ["a", "b", "c", "d"]


def test_a_family_not_interleaved_measures_each_row_at_once():
    benches, log = _external_benches("w", {"a": [1, 2], "b": [3, 4]})
    family = harness.Family("f", "F", benches, [], lambda results: [], repeats=2, interleaved=False)
    [results] = harness.run([family], harness.Settings(repeats=7, repeat_ns=1), progress=io.StringIO())
    assert log == [("a", 2), ("b", 2)] and results.get("w", "b").per_call_ns == [3, 4]  # one call per row


def test_in_process_rows_take_turns_after_each_is_checked_and_calibrated():
    calls = []

    def bench(name, wrong=False):
        def check():
            calls.append(("check", name))
            if wrong:
                raise AssertionError("wrong output")

        return harness.Bench("w", name, 1, "log(name)", {"log": calls.append, "name": name}, check)

    family = harness.Family("f", "F", [bench("a"), bench("b"), bench("bad", wrong=True)], [], lambda results: [])
    [results] = harness.run([family], harness.Settings(repeats=3, repeat_ns=1), progress=io.StringIO())
    checks = [c for c in calls if isinstance(c, tuple)]
    assert checks == [("check", "a"), ("check", "b"), ("check", "bad")]  # each readied (and calibrated) first
    a, b, bad = results.all
    assert a.ok and b.ok and len(a.per_call_ns) == len(b.per_call_ns) == 3 and a.loops >= 1
    assert not bad.ok and "output check failed" in bad.error and bad.per_call_ns == []
    timed = calls[calls.index(("check", "bad")) + 1 :]
    # Round r starts at row r (of 3; the failed row is skipped): a b | b a | a b, a repeat being `loops` calls.
    runs = [(name, len(list(calls_in_a_row))) for name, calls_in_a_row in itertools.groupby(timed)]
    assert runs == [("a", a.loops), ("b", 2 * b.loops), ("a", 2 * a.loops), ("b", b.loops)]


def test_counted_notes_add_up_across_calls_and_stay_one_note_per_key():
    notes = ["fixed"]
    render = lambda counts: f"total {counts[0]}: {' + '.join(map(str, counts[1:]))}"  # noqa: E731
    harness.add_counts(notes, "x", [6, 4, 2], render)
    harness.add_counts(notes, "y", [1], lambda counts: f"y {counts[0]}")
    harness.add_counts(notes, "x", [6, 1, 5], render)
    assert notes == ["fixed", "total 12: 5 + 7", "y 1"]
    assert json.loads(json.dumps(notes)) == notes


def test_compare_flags_wsframe_slowdowns_beyond_the_tolerance_only():
    old = _document([_row("wsframe native", 1000), _row("wsframe fallback", 1000), _row("websockets", 1000, peer=True)])
    new = _document([_row("wsframe native", 1100), _row("wsframe fallback", 1300), _row("websockets", 5000, peer=True)])
    changes, notes = report.compare(old, new)
    assert {c.implementation for c in changes} == {"wsframe native", "wsframe fallback", "websockets"}
    assert [c.implementation for c in report.regressions(changes, 0.15)] == ["wsframe fallback"]
    assert report.regressions(changes, 0.35) == []
    lines = "\n".join(report.comparison_lines("old.json", changes, notes, 0.15))
    assert "**REGRESSION**" in lines and "-23.1% speed" in lines
    # Quick and full runs differ in stream length: times per message are compared, with a note.
    changes, notes = report.compare(_document([_row("wsframe native", 1000)]), _document([_row("wsframe native", 100_000, items=100_000)], quick=False))
    assert report.regressions(changes, 0.15) == [] and any("--quick" in note for note in notes)


def test_compare_option_exits_1_on_a_synthetic_regression(tmp_path):
    first = tmp_path / "first.json"
    args = ["--quick", "--malloc", "dynamic", "--no-charts", "--only", "handshake"]
    assert cli.main(args + ["--json", str(first)]) == 0
    document = json.loads(first.read_text(encoding="utf-8"))

    def scaled(factor):
        copy = json.loads(json.dumps(document))
        for family in copy["families"]:
            for row in family["rows"]:
                row["median_ns"] *= factor
        path = tmp_path / f"old-{factor}.json"
        path.write_text(json.dumps(copy), encoding="utf-8")
        return str(path)

    # The earlier run was 100 times faster: every wsframe row regressed; 100 times slower: none did.
    assert cli.main(args + ["--json", str(tmp_path / "a.json"), "--compare", scaled(0.01)]) == 1
    assert cli.main(args + ["--json", str(tmp_path / "b.json"), "--compare", scaled(100)]) == 0
    assert cli.main(args + ["--json", str(tmp_path / "c.json"), "--compare", str(tmp_path / "missing.json")]) == 2


def test_charts_are_written_when_matplotlib_is_installed(tmp_path):
    document = _document([_row("wsframe native", 1000), _row("websockets", 3000, peer=True)])
    paths = report.write_charts(document, str(tmp_path))
    if not _importable("matplotlib"):
        assert paths is None
        return
    assert paths == [str(tmp_path / "streams.png")]
    assert (tmp_path / "streams.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _children():
    """This process's child processes (Linux /proc), as pids."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                children.append(int(entry))
    return children


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_echo_failures_are_errors_and_leave_no_process_behind():
    before = set(_children())
    bounds = echo.Bounds.for_mode(quick=True)
    with pytest.raises(RuntimeError, match="expected PORT"):
        echo.measure_echo("no-such-library", 256, bounds, 1)
    available = [b for b in _declared()["echo"].benches if b.workload == echo.workload_name(256)]
    for bench in available[:1]:  # one real round trip run and one burst when a library is installed
        for key in (256, echo.BURST):
            per_call_ns = echo.measure_echo(bench.implementation, key, bounds, 2)
            assert len(per_call_ns) == 2 and all(t > 0 for t in per_call_ns)
    assert set(_children()) <= before


def _echo_library_or_skip(library):
    try:
        echo._importable(library)
    except echo.Missing as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("library", echo.LIBRARIES)
def test_echo_servers_and_clients_refuse_compression(library):
    # The rows compare uncompressed round trips: wsframe's defaults negotiate permessage-deflate, which
    # the echo benchmark once measured against peers running without it.
    _echo_library_or_skip(library)
    ws_asyncio = importlib.import_module("wsframe.asyncio")

    async def main():
        port, close = await echo.SERVERS[library]()
        try:
            async with ws_asyncio.connect(f"ws://{echo.HOST}:{port}/") as ws:  # offers permessage-deflate
                server_extensions = ws.extensions
        finally:
            result = close()
            if hasattr(result, "__await__"):
                await result
        accepted = []

        async def record(ws):
            accepted.append(ws.extensions)

        async with await ws_asyncio.serve(record, echo.HOST, 0) as server:  # accepts permessage-deflate
            client = echo.CLIENTS[library]()
            await client.open(f"ws://{echo.HOST}:{server.port}/")
            await client.close()
            for _ in range(100):
                if accepted:
                    break
                await asyncio.sleep(0.01)
        return server_extensions, accepted

    server_extensions, accepted = asyncio.run(main())
    assert server_extensions == []
    assert accepted == [[]]


# --- ASGI echo through uvicorn ---------------------------------------------------------------------

from benchmarks import uvicorn_echo  # noqa: E402


def _uvicorn_results(medians_ns):
    """Synthetic results of the uvicorn family: {(workload key, protocol): median ns}."""
    results = []
    for (key, protocol), median in medians_ns.items():
        bench = harness.Bench(uvicorn_echo.workload_name(key), protocol, 512, "", {}, lambda: None, peer=protocol != "wsframe")
        results.append(harness.Result(bench, per_call_ns=[median]))
    return harness.Results(results)


def test_uvicorn_targets_need_every_built_in_beaten_and_the_burst_by_1_3x():
    keys = (*uvicorn_echo.SIZES, uvicorn_echo.BURST)
    medians = {(key, protocol): 100.0 for key in keys for protocol in ("websockets-sansio", "wsproto")}
    medians.update({(key, "wsframe"): 90.0 for key in keys})  # 1.11x the fastest built-in everywhere
    verdicts = [check.met for check in uvicorn_echo.uvicorn_targets(_uvicorn_results(medians))]
    assert verdicts == [True, True, True, False]  # the burst needs 1.3x
    medians[(uvicorn_echo.BURST, "wsframe")] = 75.0
    medians[(256, "wsproto")] = 80.0  # one built-in faster on one row
    verdicts = [check.met for check in uvicorn_echo.uvicorn_targets(_uvicorn_results(medians))]
    assert verdicts == [False, True, True, True]
    del medians[(256, "wsframe")]
    assert uvicorn_echo.uvicorn_targets(_uvicorn_results(medians))[0].met is None


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_uvicorn_echo_measures_every_row_kind_through_a_real_server():
    try:
        uvicorn_echo._importable("wsframe")
    except uvicorn_echo.Missing as exc:
        pytest.skip(str(exc))
    before = set(_children())
    [family] = uvicorn_echo.families(quick=True)
    rows = [bench for bench in family.benches if bench.implementation == "wsframe"]
    for key in (256, uvicorn_echo.BURST):  # as the harness runs them
        [bench] = [bench for bench in rows if bench.workload == uvicorn_echo.workload_name(key)]
        per_call_ns = bench.external(harness.Settings(repeats=1, repeat_ns=0))
        assert len(per_call_ns) == 1 and per_call_ns[0] > 0
    assert set(_children()) <= before


# --- broadcast ------------------------------------------------------------------------------------

from benchmarks import fanout  # noqa: E402


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_broadcast_rounds_are_timed_and_leave_no_process_behind():
    before = set(_children())
    bounds = fanout.Bounds(20, {32: 10, 4096: 5})
    with pytest.raises(RuntimeError, match="expected PORT"):
        fanout.measure_broadcast("no-such-library", 32, bounds, 1)
    per_broadcast_ns = fanout.measure_broadcast("wsframe", 4096, bounds, 2)
    assert len(per_broadcast_ns) == 2 and all(t > 0 for t in per_broadcast_ns)
    assert set(_children()) <= before


@pytest.mark.parametrize("library", fanout.LIBRARIES)
def test_broadcast_family_declares_each_available_library(library):
    [family] = fanout.families(quick=True)
    declared = {bench.implementation for bench in family.benches}
    assert (library in declared) != any(library in note for note in family.skipped)


def test_broadcast_receiver_checks_every_message_of_a_round():
    async def main():
        group = fanout.ReceiverGroup(1)
        receiver = fanout.Receiver(group)
        round_over = group.start_round(32, 2, [receiver])
        receiver.check(fanout.message(0, 32))
        receiver.check(fanout.message(1, 32))
        assert await round_over > 0
        round_over = group.start_round(32, 2, [receiver])  # the next round starts at 0 again
        receiver.check(fanout.message(0, 32))
        receiver.check(fanout.message(0, 32))  # a repeat where 1 was due
        with pytest.raises(AssertionError, match="message 1 of a round arrived wrong"):
            await round_over

    asyncio.run(main())


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_broadcast_from_two_workers_reaches_every_connection_and_reports_the_split():
    echo._importable(echo.worker_row(2))
    before = set(_children())
    bounds = fanout.Bounds(20, {32: 10, 4096: 5})
    notes = []
    per_broadcast_ns = fanout.measure_broadcast(echo.worker_row(2), 32, bounds, 2, notes)
    assert len(per_broadcast_ns) == 2 and all(t > 0 for t in per_broadcast_ns)
    [note] = notes
    split = [int(part) for part in note.rsplit(": ", 1)[1].rstrip(".").split(" + ")]
    assert len(split) == 2 and sum(split) == 20
    assert set(_children()) <= before


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_floor_row_writes_every_frame_on_the_bare_sockets():
    before = set(_children())
    bounds = fanout.Bounds(20, {32: 10, 4096: 5})
    per_broadcast_ns = fanout.measure_broadcast(fanout.FLOOR, 4096, bounds, 1, [])
    assert len(per_broadcast_ns) == 1 and per_broadcast_ns[0] > 0  # the receivers checked every message
    assert set(_children()) <= before


def test_broadcast_family_marks_the_floor_a_reference_and_the_worker_rows_wsframe_own():
    [family] = fanout.families(quick=True)
    kinds = {(bench.implementation, bench.reference, bench.peer) for bench in family.benches}
    assert (fanout.FLOOR, True, False) in kinds
    assert {(row, False, False) for row in echo.WORKER_ROWS} <= kinds
    # --only picks the floor with its workload, as the other reference rows (a row declared without the
    # peers installed, as in CI's test extra).
    [selected] = harness.select([family], ["wsframe 2 workers"])
    assert {bench.implementation for bench in selected.benches} == {"wsframe 2 workers", fanout.FLOOR}


def test_bare_socket_keeps_what_the_kernel_did_not_take_and_sends_it_in_order():
    import socket

    async def main():
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        right.setblocking(False)
        stalls_before = fanout.BareSocket.stalls
        bare = fanout.BareSocket(left.fileno())
        frames = [bytes([number]) * 100_000 for number in range(8)]  # far more than the buffers hold
        for frame in frames[:4]:
            bare.write(frame)
        assert fanout.BareSocket.stalls > stalls_before and bare.backlog is not None
        await asyncio.sleep(0)  # the flush begins, and waits for room
        received = bytearray(await asyncio.wait_for(loop.sock_recv(right, 1 << 16), 10))
        for frame in frames[4:]:  # written while the flush is under way: behind it
            bare.write(frame)
        while len(received) < sum(map(len, frames)):
            received += await asyncio.wait_for(loop.sock_recv(right, 1 << 16), 10)
        assert bytes(received) == b"".join(frames)
        for _ in range(100):  # the flush ends once the backlog is out
            if bare.backlog is None:
                break
            await asyncio.sleep(0.01)
        assert bare.backlog is None
        for sock in (bare.sock, left, right):
            sock.close()

    asyncio.run(main())


def test_serve_commands_broadcasts_a_round_in_order_and_answers_counts():
    sent, replies = [], []

    async def send_all(data):
        sent.append(data)

    async def commands():
        for line in ("connections", "go 32 3", "accepted"):
            yield line.split()

    counts = {"connections": lambda: 7, "accepted": lambda: 9}
    asyncio.run(fanout.serve_commands(send_all, commands(), replies.append, counts))
    assert sent == [fanout.message(sequence, 32) for sequence in range(3)]
    assert replies[0] == "CONNECTIONS 7" and replies[1].startswith("START ") and replies[2] == "ACCEPTED 9"
    assert int(replies[1].split()[1]) > 0


# --- worker processes ------------------------------------------------------------------------------

from benchmarks import workers  # noqa: E402


def test_combined_worker_replies_take_the_first_start_and_sum_the_counts():
    assert workers.combine([["START", "30"], ["START", "12"]]) == "START 12"
    assert workers.combine([["CONNECTIONS", "503"], ["CONNECTIONS", "497"]]) == "CONNECTIONS 1000 503 497"
    assert workers.combine([["ACCEPTED", "4"]]) == "ACCEPTED 4 4"
    with pytest.raises(RuntimeError, match="one kind of reply"):
        workers.combine([["START", "1"], ["CONNECTIONS", "2"]])
    with pytest.raises(RuntimeError, match="one kind of reply"):
        workers.combine([["START", "1"], []])  # a worker that is gone


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list child processes")
def test_echo_burst_over_two_workers_counts_every_connection():
    echo._importable(echo.worker_row(2))
    before = set(_children())
    bounds = echo.Bounds({echo.WORKERS_BURST: 2}, 50, 0.5)
    notes = []
    per_message_ns = echo.measure_workers_burst(2, bounds, 2, notes)
    assert len(per_message_ns) == 2 and all(t > 0 for t in per_message_ns)
    [note] = notes
    split = [int(part) for part in note.rsplit(": ", 1)[1].rstrip(".").split(" + ")]
    assert len(split) == 2 and sum(split) == 3 * echo.WORKER_CONNECTIONS  # a warm-up and 2 repeats, fresh connections each
    assert set(_children()) <= before


# --- the shared pieces of the process benchmarks ------------------------------------------------------


class _EchoingClient(echo.Client):
    """A client whose server is a function of each message (None: the message is lost)."""

    def __init__(self, server=lambda payload: payload):
        self.server = server
        self.inbox = echo.Inbox()
        self.receive = self.inbox.get

    async def send(self, payload):
        await asyncio.sleep(0)
        reply = self.server(payload)
        if reply is not None:
            asyncio.get_running_loop().call_soon(self.inbox.put, reply)


@pytest.mark.parametrize("exchange", [echo.round_trips, echo.pipelined_burst])
def test_exchanges_check_every_echo(exchange):
    payloads = [b"a" * 8, b"b" * 8]

    async def run(server, timeout=5):
        await asyncio.wait_for(exchange(_EchoingClient(server), payloads, 20), timeout)

    asyncio.run(run(lambda payload: payload))
    wrong = iter(range(100))
    with pytest.raises(AssertionError, match="differs"):
        asyncio.run(run(lambda payload: payload if next(wrong) != 7 else payload[:-1] + b"?"))
    with pytest.raises(AssertionError, match="differs"):  # a stale echo: the one before, again
        asyncio.run(run(lambda payload: payloads[0]))
    with pytest.raises((asyncio.TimeoutError, AssertionError)):  # a lost echo: waited for, or the next one differs
        asyncio.run(run(lambda payload: None if payload == payloads[1] else payload, timeout=0.5))


def test_a_burst_whose_sender_fails_raises_instead_of_waiting_for_echoes():
    class BrokenClient(_EchoingClient):
        async def send(self, payload):
            raise ConnectionResetError("gone")

    async def main():
        await asyncio.wait_for(echo.pipelined_burst(BrokenClient(), [b"x", b"y"], 10), 5)

    with pytest.raises(ConnectionResetError):
        asyncio.run(main())


def test_inbox_hands_out_messages_in_order_whether_or_not_someone_waits():
    async def main():
        inbox = echo.Inbox()
        inbox.put(1)
        inbox.put(2)
        waiting = asyncio.ensure_future(asyncio.gather(inbox.get(), inbox.get()))
        assert await waiting == [1, 2]
        waiter = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put(3)
        inbox.put(4)  # nobody waits for this one yet
        assert await waiter == 3 and await inbox.get() == 4

    asyncio.run(main())


def test_declare_benches_orders_by_key_and_notes_what_is_missing():
    def importable(name):
        if name == "absent":
            raise echo.Missing("absent: not installed")

    benches, skipped = echo.declare_benches(
        ("one", "absent", "two"), importable, (1, 2), lambda key, name: (key, name)
    )
    assert benches == [(1, "one"), (1, "two"), (2, "one"), (2, "two")]
    assert skipped == ["skipped absent: absent: not installed"]


def test_side_main_parses_each_role_and_runs_it_on_a_new_loop(capsys):
    ran = []

    async def record(args):
        ran.append((args.role, vars(args)))

    roles = {"server": ([("library", ("a", "b"))], record), "client": ([("port", int), ("seconds", float)], record)}
    assert echo.side_main(["client", "80", "0.5"], "prog", roles) == 0
    assert echo.side_main(["server", "b"], "prog", roles) == 0
    assert ran == [("client", {"role": "client", "port": 80, "seconds": 0.5}), ("server", {"role": "server", "library": "b"})]
    for wrong in (["server", "c"], ["client", "80"], ["other"]):
        with pytest.raises(SystemExit):
            echo.side_main(wrong, "prog", roles)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_round_trip_processes_run_pinned_to_one_cpu():
    cpu = echo.round_trip_cpu()
    assert cpu in os.sched_getaffinity(0)
    import subprocess
    import sys

    pinned = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        capture_output=True, text=True, preexec_fn=echo._pinned_to(cpu), check=True,
    )
    assert json.loads(pinned.stdout) == [cpu]


def test_echo_targets_take_wsframes_faster_api_against_picows():
    def results(medians_ns):
        rows = []
        for (size, library), median in medians_ns.items():
            bench = harness.Bench(echo.workload_name(size), library, 2 * size, "", {}, lambda: None, peer=library not in echo.OWN)
            rows.append(harness.Result(bench, per_call_ns=[median]))
        return harness.Results(rows)

    sizes = (256, 100 * 1024, 1024 * 1024)
    medians = {(size, "picows"): 100.0 for size in sizes}
    medians.update({(size, "wsframe"): 120.0 for size in sizes})
    medians.update({(size, "wsframe-callback"): 90.0 for size in sizes})  # 1.11x: enough at 256 B only
    assert [check.met for check in echo.echo_targets(results(medians))] == [True, False, False]
    medians[(100 * 1024, "wsframe")] = 80.0  # the async iterator counts too: 1.25x
    assert [check.met for check in echo.echo_targets(results(medians))] == [True, True, False]
    del medians[(1024 * 1024, "picows")]
    assert echo.echo_targets(results(medians))[2].met is None
