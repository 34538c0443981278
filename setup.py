"""Build mbedtls-py: fetch (if needed) and compile the pinned Mbed TLS into
one cffi extension.  Metadata lives in pyproject.toml."""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "csrc"))


class BuildExt(build_ext):
    """Compile the Mbed TLS archive (in parallel) before the extension links it."""

    def run(self):
        import mbedtls_build  # csrc/mbedtls_build.py

        mbedtls_build.build_static_library()
        if self.inplace:  # an old in-place mbedtls_py/_lib.*.so would shadow _lib.py
            mbedtls_build.remove_stale_extensions()
        super().run()


class SDist(sdist):
    """Make sure the verified source is unpacked, so the sdist carries it."""

    def run(self):
        import mbedtls_build

        mbedtls_build.mbedtls_source()
        super().run()


setup(
    cffi_modules=["csrc/mbedtls_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "sdist": SDist},
)
