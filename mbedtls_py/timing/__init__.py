"""Timing models for the simulations (ssl-opt's ``World``, the ``Network``):
seeded, named, off unless asked for.  See :mod:`mbedtls_py.timing.model`."""

from .model import MODELS, Timing, TimingModel, get_model, measured_data, program_kind

__all__ = ["MODELS", "Timing", "TimingModel", "get_model", "measured_data", "program_kind"]
