"""The package version (compiled into the extension and checked at import)."""

__version__ = "0.1.0"
