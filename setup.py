"""Builds the optional native hot path, ``wsframe._native``, from ``src/``, and
the compiled twins of two pure-Python modules of the layers above (``*_core_c``, see native_extensions).

Environment switches:
- ``WSFRAME_NO_EXTENSION=1``: build no extension (a pure-Python wheel).
- ``WSFRAME_REQUIRE_EXTENSION=1``: a failed extension build is an error instead of a fallback to pure Python.
"""

import os
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSION = os.environ.get("WSFRAME_NO_EXTENSION") == "1"
REQUIRE_EXTENSION = os.environ.get("WSFRAME_REQUIRE_EXTENSION") == "1"


class OptionalBuildExt(build_ext):
    """Falls back to the pure-Python package when compiling fails, unless the extension is required."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # compiler missing, Cython missing, ...
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc):
        if REQUIRE_EXTENSION:
            raise
        print(f"wsframe: building the extension failed ({exc}); installing the pure-Python hot path", file=sys.stderr)


def native_extensions():
    if NO_EXTENSION:
        return []
    from Cython.Build import cythonize

    if sys.platform == "win32":
        compile_args = ["/O2"]
    else:
        compile_args = ["-O3", "-fno-strict-aliasing"]
    extension = Extension(
        "wsframe._native",
        sources=["src/_native.pyx"],
        include_dirs=["src"],
        extra_compile_args=compile_args,
        depends=[os.path.join("src", name) for name in os.listdir("src")],
    )
    # Modules of the layers above, plain Python compiled with the C fields their .pxd declares (see
    # wsframe/asyncio/_core.py for why); the sources stay importable as they are, for the fallback.
    # Annotations do not type anything: compiled, they behave as interpreted. Always re-cythonized (two
    # small files): cythonize looks for a .pxd named after the source, so it misses edits of these.
    # Not on free-threaded builds, where the interpreted source is used: a compiled class's C fields take no
    # lock, where the interpreter's attributes do (the extension's own types use critical sections).
    layers = [
        Extension(f"{name}_c", sources=[name.replace(".", "/") + ".py"], extra_compile_args=compile_args)
        for name in ("wsframe._connection_core", "wsframe.asyncio._core")
        if not sysconfig.get_config_var("Py_GIL_DISABLED")
    ]
    return cythonize(
        [extension],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "freethreading_compatible": True,
        },
    ) + cythonize(
        layers,
        force=True,
        compiler_directives={
            "language_level": 3,
            "annotation_typing": False,
            "auto_pickle": False,
        },
    )


setup(ext_modules=native_extensions(), cmdclass={"build_ext": OptionalBuildExt})
