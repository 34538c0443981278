"""Exhaustive fault-schedule exploration of DTLS scenarios on the real contexts.

``explore(scenario, policy, faults)`` runs a scenario once without faults,
then every schedule of up to ``faults`` faults from a menu (drop a datagram;
hold it until after a later event; duplicate it after a later event; swap
it with the next datagram on its direction), and groups the outcomes into
classes; ``emit_test`` writes a class's representative as a pytest file.
Command line: ``mbedtls-py explore --help``.
"""

from __future__ import annotations

from .emit import emit_test
from .engine import Exploration, OutcomeClass, baseline, explore, menu, run_schedule, schedules
from .model import DatagramId, EventId, Fault, Schedule, schedule_words
from .probe import Outcome, Probe
from .scenarios import SCENARIOS, UNSUPPORTED, Setup, finish, get_scenario

__all__ = ["explore", "emit_test", "Exploration", "OutcomeClass", "baseline", "menu",
           "run_schedule", "schedules", "DatagramId", "EventId", "Fault", "Schedule",
           "schedule_words", "Outcome", "Probe", "SCENARIOS", "UNSUPPORTED", "Setup", "finish",
           "get_scenario"]
