"""Schedule search over one ssl-opt case: the proxy's choices and link lags
on the case's own datagrams, until its own assertions fail (``mbedtls-py search``)."""

from .engine import Baseline, Outcome, SearchResult, baseline, menu, run_moves, run_traced, \
    search, shrink
from .moves import KINDS, Hooks, Move, MoveKind, format_schedule, parse_schedule

__all__ = ["Baseline", "Outcome", "SearchResult", "baseline", "menu", "run_moves", "run_traced",
           "search", "shrink", "KINDS", "Hooks", "Move", "MoveKind", "format_schedule",
           "parse_schedule"]
