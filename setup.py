"""Build mbedtls-py: fetch (if needed) and compile the pinned Mbed TLS into
one cffi extension.  Metadata lives in pyproject.toml (the licence is here:
setuptools >= 77 wants an SPDX expression, older ones a plain ``license``)."""

import os
import shutil
import sys
from pathlib import Path

import setuptools
from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
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


class BuildPy(build_py):
    """Ship the build machinery as package data, ``mbedtls_py/_build/``: the
    whole ``csrc/`` (cdefs, C glue, config header, build script),
    ``vendor/pins.json``, and Mbed TLS's LICENSE (its code is compiled into
    the extension).  An installed wheel builds library variants and upstream
    programs with it, and fetches the pinned sources into the user's cache."""

    def run(self):
        super().run()
        import mbedtls_build

        out = Path(self.build_lib) / "mbedtls_py" / "_build"
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(os.path.join(HERE, "csrc"), out / "csrc",
                        ignore=shutil.ignore_patterns("_generated", "__pycache__", "*.pyc"))
        shutil.copy2(os.path.join(HERE, "vendor", "pins.json"), out / "pins.json")
        (out / "mbedtls").mkdir()
        shutil.copy2(mbedtls_build.mbedtls_source() / "LICENSE", out / "mbedtls" / "LICENSE")


class SDist(sdist):
    """Make sure the verified source is unpacked, so the sdist carries it."""

    def run(self):
        import mbedtls_build

        mbedtls_build.mbedtls_source()
        super().run()


LICENSE = "Apache-2.0"
_NEW_METADATA = int(setuptools.__version__.split(".")[0]) >= 77

setup(
    cffi_modules=["csrc/mbedtls_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy, "sdist": SDist},
    **({"license_expression": LICENSE} if _NEW_METADATA else {"license": LICENSE}),
)
