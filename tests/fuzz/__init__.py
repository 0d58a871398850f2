"""Coverage-guided fuzz targets (atheris/libFuzzer) for the layers that parse what a peer sends.

Each module named in TARGETS has ``test_one_input(data: bytes)``, which raises AssertionError on a
mismatch or on an exception the library does not document; it needs no atheris, so that
tests/test_fuzz_corpus.py replays the seed corpus (corpus/<target>/) in the normal test suite.
Run one under libFuzzer with ``python tests/fuzz/run.py TARGET [libFuzzer options] [corpus dirs]``,
or all of them with tools/fuzz.sh. tests/fuzz/make_corpus.py writes the seed corpus.
"""

TARGETS = ("frame_decoder", "utf8", "handshake", "connection", "inflate")
