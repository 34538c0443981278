"""``python -m mbedtls_py``: the command line of :mod:`mbedtls_py.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
