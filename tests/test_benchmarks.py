"""The benchmark harness (``python -m benchmarks``): it runs, checks outputs, and reports every implementation.

No timing assertions: only that rows exist, have positive times, and that wrong outputs become error rows.
"""

import importlib
import json

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
