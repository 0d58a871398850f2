"""Runs one fuzz target under atheris (libFuzzer): ``python tests/fuzz/run.py TARGET [libFuzzer args]``.

wsframe's Python code is instrumented for coverage; the native extension is not (libFuzzer sees its
effects through the fallback and the layers above). A failing input is saved by libFuzzer as
crash-<sha1> (see -artifact_prefix) and replays with ``python tests/fuzz/run.py TARGET crash-...``.
"""

import importlib
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: the fuzz package

targets = importlib.import_module("fuzz").TARGETS
if len(sys.argv) < 2 or sys.argv[1] not in targets:
    sys.exit(f"usage: {sys.argv[0]} TARGET [libFuzzer args]; targets: {', '.join(targets)}")
target = sys.argv.pop(1)
with atheris.instrument_imports(include=["wsframe"]):
    module = importlib.import_module(f"fuzz.{target}")
atheris.Setup(sys.argv, module.test_one_input)
atheris.Fuzz()
