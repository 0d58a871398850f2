"""Hot-path kernels: XOR masking (RFC 6455 section 5.3) and UTF-8 validation, wsframe against its peers.

Both wsframe implementations (``wsframe._native`` and ``wsframe._fallback``) are imported directly, so one
run measures both. Every implementation is optional: one that does not import becomes a "skipped" note.
"""

from __future__ import annotations

import codecs
import random
import sys
from dataclasses import dataclass
from typing import Callable

from .harness import Baseline, Bench, Family, Results, TargetCheck, by_name, fastest_peer, format_size, speed_check
from .peers import Missing, load

KiB = 1 << 10
MiB = 1 << 20
SEED = 6455
MASK_KEY = bytes.fromhex("37fa213d")
MASK_SIZES = (125, 4 * KiB, 64 * KiB, 1 * MiB)
UTF8_SIZES = (125, 64 * KiB, 1 * MiB)


def families(quick: bool = False) -> list[Family]:
    """The kernel workload families: masking and UTF-8 validation (the same inputs in quick runs)."""
    return [masking_family(), utf8_family()]


# Why an implementation cannot be set up: not importable, or its API is not the one expected here.
UNAVAILABLE = (Missing, AttributeError)


def _skip_note(implementation: str, reason: Exception) -> str:
    return f"skipped {implementation}: {reason if isinstance(reason, Missing) else f'{type(reason).__name__}: {reason}'}"


# --- masking -----------------------------------------------------------------------------------------

COPY = "memory copy: memoryview.tobytes()"
NATIVE_MASK = "wsframe native mask"
NATIVE_MASK_INPLACE = "wsframe native mask_inplace"
FALLBACK_MASK = "wsframe fallback mask"
AIOHTTP_CYTHON = "aiohttp Cython _websocket_mask_cython (in place)"
WEBSOCKETS_PYTHON = "websockets pure-Python utils.apply_mask"


@dataclass(frozen=True)
class Masker:
    """A masking implementation: ``stmt`` uses ``fn`` (from ``load``), ``data`` and ``key``.

    kind: "new" returns the masked bytes; "in place" masks the bytearray ``data``; "copy" returns a copy
    of ``data`` (a memoryview of the payload), the memory-bandwidth yardstick.
    """

    implementation: str
    load: Callable[[], object]
    stmt: str
    kind: str = "new"
    peer: bool = False
    reference: bool = False


# What each kind of masker is given: a bytearray to mask in place, a memoryview to copy, else the bytes.
INPUT_TYPES = {"new": bytes, "in place": bytearray, "copy": memoryview}


def _maskers() -> list[Masker]:
    return [
        Masker(NATIVE_MASK, lambda: load("wsframe._native").mask, "fn(data, key)"),
        Masker(NATIVE_MASK_INPLACE, lambda: load("wsframe._native").mask_inplace, "fn(data, key)", "in place"),
        Masker(FALLBACK_MASK, lambda: load("wsframe._fallback").mask, "fn(data, key)"),
        Masker("wsframe fallback mask_inplace", lambda: load("wsframe._fallback").mask_inplace, "fn(data, key)", "in place"),
        Masker(COPY, lambda: None, "data.tobytes()", "copy", reference=True),
        Masker("websockets C speedups.apply_mask", lambda: load("websockets.speedups").apply_mask, "fn(data, key)", peer=True),
        Masker(WEBSOCKETS_PYTHON, lambda: load("websockets.utils").apply_mask, "fn(data, key)", peer=True),
        Masker(AIOHTTP_CYTHON, lambda: load("aiohttp._websocket.mask")._websocket_mask_cython, "fn(key, data)", "in place", peer=True),
        Masker(
            "aiohttp pure-Python _websocket_mask_python (in place)",
            lambda: load("aiohttp._websocket.helpers")._websocket_mask_python,
            "fn(key, data)",
            "in place",
            peer=True,
        ),
        Masker("wsaccel XorMaskerSimple(key).process", lambda: load("wsaccel.xormask").XorMaskerSimple, "fn(key).process(data)", peer=True),
    ]


def reference_mask(payload: bytes, key: bytes) -> bytes:
    """payload XOR the repeated key, computed with one big integer: the expected output of every masker."""
    n = len(payload)
    repeated_key = int.from_bytes(key * (n // 4) + key[: n % 4], sys.byteorder)
    return (int.from_bytes(payload, sys.byteorder) ^ repeated_key).to_bytes(n, sys.byteorder)


def mask_check(masker: Masker, namespace: dict, payload: bytes, expected: bytes) -> Callable[[], None]:
    """Runs the masker once on a fresh input and compares its output with the expected bytes."""

    def check() -> None:
        fresh = INPUT_TYPES[masker.kind](payload)
        scope = dict(namespace, data=fresh)
        output = eval(masker.stmt, scope)
        if masker.kind == "in place":
            output = scope["data"]
        elif output is fresh:
            raise AssertionError("returned its input")
        elif type(output) not in (bytes, bytearray):
            raise AssertionError(f"returned a {type(output).__name__}, not bytes")
        elif bytes(fresh) != payload:
            raise AssertionError("modified its input")
        if bytes(output) != expected:
            first = next((i for i, (a, b) in enumerate(zip(output, expected)) if a != b), min(len(output), len(expected)))
            raise AssertionError(f"wrong output: {len(output)} bytes (expected {len(expected)}), first difference at byte {first}")

    return check


def masking_family() -> Family:
    """Masking benches at every size for every importable masker."""
    rng = random.Random(SEED)
    payloads = {size: rng.randbytes(size) for size in MASK_SIZES}
    benches, skipped = [], []
    for masker in _maskers():
        try:
            fn = masker.load()
        except UNAVAILABLE as exc:
            skipped.append(_skip_note(masker.implementation, exc))
            continue
        for size, payload in payloads.items():
            expected = payload if masker.kind == "copy" else reference_mask(payload, MASK_KEY)
            namespace = {"fn": fn, "data": INPUT_TYPES[masker.kind](payload), "key": MASK_KEY}
            benches.append(
                Bench(
                    workload=f"mask {format_size(size)}",
                    implementation=masker.implementation,
                    nbytes=size,
                    stmt=masker.stmt,
                    namespace=namespace,
                    check=mask_check(masker, namespace, payload, expected),
                    reference=masker.reference,
                    peer=masker.peer,
                )
            )
    benches.sort(key=lambda b: b.nbytes)  # group by workload, keeping the implementation order
    return Family(
        name="masking",
        title="Masking (XOR with a 4-byte key)",
        benches=benches,
        baselines=[Baseline("× copy", by_name(COPY)), Baseline("× fastest peer", fastest_peer)],
        targets=masking_targets,
        notes=[
            "Memory copy: `view.tobytes()` of a memoryview made once, a new bytes object like mask()'s result: "
            "the fastest honest copy here (bytearray(data), bytes(bytearray) and bytes(memoryview) are as fast at "
            "64 KiB and up, 20-40 ns slower below); `data[:]` and bytes(data) do not copy.",
            "Inputs are reused by every call, so they stay in cache at their size (125 B, 4 KiB: L1; 64 KiB: L2; "
            "1 MiB: L2/L3); in-place rows mask the same bytearray again and again; the others allocate their result.",
            "wsaccel: a new masker per call (per frame), as its users do: a masker keeps its position in the stream.",
            "picows masks with SIMD inside its transport but exposes no masking function: it is not in this table.",
        ],
        skipped=skipped,
    )


def masking_targets(results: Results) -> list[TargetCheck]:
    """The issue's masking goals, judged on medians."""
    checks = []
    for size in (64 * KiB, MiB):
        workload = f"mask {format_size(size)}"
        checks.append(
            speed_check(
                f"{workload}: native mask_inplace ≥ aiohttp's in-place Cython mask",
                results.get(workload, NATIVE_MASK_INPLACE),
                results.get(workload, AIOHTTP_CYTHON),
                1.0,
            )
        )
    for size in (4 * KiB, 64 * KiB, MiB):
        workload = f"mask {format_size(size)}"
        checks.append(
            speed_check(
                f"{workload}: native mask (new bytes) ≥ 0.9× memory copy speed",
                results.get(workload, NATIVE_MASK),
                results.get(workload, COPY),
                0.9,
            )
        )
    workload = "mask 125 B"
    peer = fastest_peer(results.of_workload(workload))
    for implementation in (NATIVE_MASK, NATIVE_MASK_INPLACE):
        checks.append(
            speed_check(
                f"{workload}: {implementation} per-call time ≤ 1.2× the fastest peer's",
                results.get(workload, implementation),
                peer,
                1 / 1.2,
            )
        )
    for size in MASK_SIZES:
        workload = f"mask {format_size(size)}"
        checks.append(
            speed_check(
                f"{workload}: fallback mask ≥ websockets' pure-Python apply_mask",
                results.get(workload, FALLBACK_MASK),
                results.get(workload, WEBSOCKETS_PYTHON),
                1.0,
            )
        )
    return checks


# --- UTF-8 validation --------------------------------------------------------------------------------

DECODE = "CPython bytes.decode"
INCREMENTAL_DECODER = "CPython codecs incremental decoder"
TEXT_SCRIPTS = {  # code point ranges the mixed text draws its words from
    "ASCII": (0x61, 0x7A),
    "Latin-1 accented": (0xE0, 0xFF),
    "Greek": (0x3B1, 0x3C9),
    "Cyrillic": (0x430, 0x44F),
    "CJK": (0x4E00, 0x9FFF),
    "emoji": (0x1F600, 0x1F64F),
}


def ascii_text(nbytes: int) -> bytes:
    """Deterministic lowercase words and spaces."""
    rng = random.Random(SEED)
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=nbytes)).encode("ascii")


def utf8_prefix(text: bytes, nbytes: int) -> bytes:
    """The first nbytes of UTF-8 text, cut at a character boundary and padded with spaces to nbytes."""
    return text[:nbytes].decode("utf-8", "ignore").encode().ljust(nbytes, b" ")


def mixed_text(nbytes: int, scripts: dict = TEXT_SCRIPTS) -> bytes:
    """Deterministic words of 2-8 characters, each from a random one of scripts, as nbytes of UTF-8."""
    rng = random.Random(SEED)
    ranges = list(scripts.values())
    words, size = [], 0
    while size < nbytes:
        low, high = rng.choice(ranges)
        word = ("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(2, 8))) + " ").encode()
        words.append(word)
        size += len(word)
    return utf8_prefix(b"".join(words), nbytes)


MULTIBYTE_SCRIPTS = {name: span for name, span in TEXT_SCRIPTS.items() if name != "ASCII"}


def multibyte_text(nbytes: int) -> bytes:
    """Mixed text without ASCII words: every character but the spaces between words is 2-4 bytes."""
    return mixed_text(nbytes, MULTIBYTE_SCRIPTS)


def _accepts(validate: Callable[[bytes], object], data: bytes, error: type[Exception]) -> bool:
    """True if validate(data) returns, False if it raises error (any other exception propagates)."""
    try:
        validate(data)
    except error:
        return False
    return True


def decodes(data: bytes) -> bool:
    """The verdict every validator must agree with: does bytes.decode accept data?"""
    return _accepts(lambda d: d.decode("utf-8"), data, UnicodeDecodeError)


@dataclass(frozen=True)
class Validator:
    """A UTF-8 validator: ``setup()`` gives the names ``stmt`` uses besides ``data`` (fresh objects for each
    bench) and a verdict function (bytes -> valid?) used to check it; it raises Missing if not importable."""

    implementation: str
    setup: Callable[[], tuple[dict, Callable[[bytes], bool]]]
    stmt: str = "fn(data)"
    reference: bool = False
    peer: bool = False


def _wsframe_one_shot(module_name: str) -> Callable[[], tuple[dict, Callable[[bytes], bool]]]:
    def setup():
        module, errors = load(module_name), load("wsframe.errors")
        return {"fn": module.validate_utf8}, lambda d: _accepts(module.validate_utf8, d, errors.InvalidUTF8)

    return setup


def _wsframe_incremental(module_name: str) -> Callable[[], tuple[dict, Callable[[bytes], bool]]]:
    def setup():
        module, errors = load(module_name), load("wsframe.errors")
        verdict = lambda d: _accepts(lambda b: module.Utf8Validator().feed(b, True), d, errors.InvalidUTF8)  # noqa: E731
        return {"fn": module.Utf8Validator().feed}, verdict

    return setup


def _incremental_decoder():
    decoder = codecs.getincrementaldecoder("utf-8")
    verdict = lambda d: _accepts(lambda b: decoder().decode(b, True), d, UnicodeDecodeError)  # noqa: E731
    return {"fn": decoder().decode}, verdict


def _wsaccel():
    validator = load("wsaccel.utf8validator").Utf8Validator

    def verdict(data: bytes) -> bool:
        valid, ends_on_code_point, _, _ = validator().validate(data)
        return valid and ends_on_code_point

    return {"fn": validator().validate}, verdict


def _validators() -> list[Validator]:
    return [
        Validator("wsframe native validate_utf8", _wsframe_one_shot("wsframe._native")),
        Validator("wsframe native Utf8Validator.feed", _wsframe_incremental("wsframe._native")),
        Validator("wsframe fallback validate_utf8", _wsframe_one_shot("wsframe._fallback")),
        Validator("wsframe fallback Utf8Validator.feed", _wsframe_incremental("wsframe._fallback")),
        Validator(DECODE, lambda: ({}, decodes), 'data.decode("utf-8")', reference=True),
        Validator(INCREMENTAL_DECODER, _incremental_decoder, reference=True),
        Validator("wsaccel Utf8Validator.validate", _wsaccel, peer=True),
    ]


def utf8_check(verdict: Callable[[bytes], bool], text: bytes) -> Callable[[], None]:
    """Compares the validator's verdicts with bytes.decode's on text and on two corrupted copies of it."""
    corrupted = [text[:i] + b"\xff" + text[i + 1 :] for i in (len(text) // 2, len(text) - 1)]

    def check() -> None:
        for sample, what in [(text, "the input")] + [(c, "a corrupted copy") for c in corrupted]:
            got, expected = verdict(sample), decodes(sample)
            if got is not expected:
                raise AssertionError(f"said {'valid' if got else 'invalid'} ({got!r}) for {what}; bytes.decode: {expected}")

    return check


def _utf8_bench(validator: Validator, workload: str, text: bytes) -> Bench:
    names, verdict = validator.setup()
    return Bench(
        workload=workload,
        implementation=validator.implementation,
        nbytes=len(text),
        stmt=validator.stmt,
        namespace=dict(names, data=text),
        check=utf8_check(verdict, text),
        reference=validator.reference,
        peer=validator.peer,
    )


def utf8_family() -> Family:
    """Validation benches of ASCII and mixed-script text at every size for every importable validator."""
    largest = max(UTF8_SIZES)
    mixed, multibyte = mixed_text(largest), multibyte_text(largest)
    texts = {}
    for size in UTF8_SIZES:
        texts[f"utf8 ascii {format_size(size)}"] = ascii_text(size)
        texts[f"utf8 mixed {format_size(size)}"] = utf8_prefix(mixed, size)
        texts[f"utf8 multi-byte {format_size(size)}"] = utf8_prefix(multibyte, size)
    benches, skipped = [], []
    for validator in _validators():
        try:
            benches += [_utf8_bench(validator, workload, text) for workload, text in texts.items()]
        except UNAVAILABLE as exc:
            skipped.append(_skip_note(validator.implementation, exc))
    order = list(texts)
    benches.sort(key=lambda b: order.index(b.workload))
    non_ascii = sum(byte >= 0x80 for byte in mixed) / len(mixed)
    multibyte_share = sum(byte >= 0x80 for byte in multibyte) / len(multibyte)
    return Family(
        name="utf8",
        title="UTF-8 validation",
        benches=benches,
        baselines=[Baseline("× bytes.decode", by_name(DECODE))],
        targets=utf8_targets,
        notes=[
            f"Mixed text: words of 2-8 characters, each from one of {', '.join(TEXT_SCRIPTS)} "
            f"(seed {SEED}); {non_ascii:.0%} of its bytes are non-ASCII. Multi-byte text: the same without the "
            f"ASCII words ({', '.join(MULTIBYTE_SCRIPTS)}; spaces between words), {multibyte_share:.0%} non-ASCII "
            "bytes. ASCII text: lowercase letters and spaces.",
            "validate_utf8 and bytes.decode validate one whole message per call; .feed, .validate and the "
            "incremental decoder are one object fed the same input again and again, as a long stream.",
            "bytes.decode and the incremental decoder also build the str. websockets, aiohttp, picows and "
            "wsproto validate text that way (they have no validator of their own), so these rows stand for them.",
        ],
        skipped=skipped,
    )


def _worstspeed_check(goal: str, results: Results, implementation: str, baseline: str, at_least: float) -> TargetCheck:
    """Met when implementation's median speed is at least at_least × baseline's on every workload."""
    pairs = [(w, results.get(w, implementation), results.get(w, baseline)) for w in results.workloads()]
    speeds = [(b.median_ns / s.median_ns, w) for w, s, b in pairs if s and b]
    if not speeds:
        return TargetCheck(goal, "not measured", None)
    worst, where = min(speeds)
    best, _ = max(speeds)
    return TargetCheck(goal, f"{worst:.2f}× at worst ({where}), up to {best:.2f}×", worst >= at_least)


def _throughput_check(results: Results, workload: str, implementation: str, gbps: float) -> TargetCheck:
    goal = f"{workload}: {implementation} ≥ {gbps} GB/s"
    result = results.get(workload, implementation)
    if result is None:
        return TargetCheck(goal, "not measured", None)
    median, best = result.gbps(result.median_ns), result.gbps(result.min_ns)
    return TargetCheck(goal, f"{median:.3g} GB/s (best repeat {best:.3g})", median >= gbps)


def utf8_targets(results: Results) -> list[TargetCheck]:
    """The issue's UTF-8 goals, judged on medians."""
    native = ("wsframe native validate_utf8", "wsframe native Utf8Validator.feed")
    fallback = ("wsframe fallback validate_utf8", "wsframe fallback Utf8Validator.feed")
    checks = []
    for implementation in native:
        checks.append(_throughput_check(results, "utf8 ascii 1 MiB", implementation, 40))
        checks.append(_throughput_check(results, "utf8 mixed 1 MiB", implementation, 7))
        checks.append(_worstspeed_check(f"{implementation} never slower than bytes.decode", results, implementation, DECODE, 1.0))
    for implementation in fallback:
        checks.append(
            _worstspeed_check(
                f"{implementation} ≈ CPython's incremental decoder (≥ 0.8× its speed)",
                results,
                implementation,
                INCREMENTAL_DECODER,
                0.8,
            )
        )
    return checks
