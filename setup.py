"""Build cotrace's optional C core; installing never fails without a compiler.

Everything else is in setup.cfg.  The extension ``tracer.record._ccore`` is
built where a C compiler and Python's headers are available; if building it
fails for any reason, the install goes on without it and cotrace uses its
Python core (``cotrace --version`` says which cores are available).
``COTRACE_NO_C=1`` skips the build.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class optional_build_ext(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            self._skip(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # compiler or headers missing, or a compile error
            self._skip(exc)

    def _skip(self, exc):
        sys.stderr.write("cotrace: the C core was not built (%s); the Python core will be used\n" % exc)


ext_modules = []
if not os.environ.get("COTRACE_NO_C") and sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (3, 13):
    ext_modules.append(Extension("tracer.record._ccore", ["tracer/record/_ccore.c"],
                                 extra_compile_args=["-O2", "-std=c99"] if os.name != "nt" else []))

setup(ext_modules=ext_modules, cmdclass={"build_ext": optional_build_ext})
