"""Timing models: how long each program computes per call into Mbed TLS, how
long a datagram takes on each leg, which ready program runs first, and how a
loaded machine preempts programs, in virtual microseconds, seeded.

A :class:`TimingModel` is a named recipe; :meth:`TimingModel.bind` gives a
:class:`Timing` for one run (one seed): every draw comes from one
``random.Random`` seeded from the model's name and the run's seed, in the
order the simulation asks, so the same seed gives the same schedule.

The costs are the distributions in ``measured.json`` (upstream's
ssl_server2/ssl_client2/udp_proxy built from the pinned source, observed with
uprobes on this machine: ``bench/measure_timing.py``), each stored as 21
quantiles and drawn by inverse CDF.  A handshake call is keyed by the state
it started in and the state it stopped in (``handshake 2>12``), with
fallbacks to any call from that state, then to the program's median call.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["TimingModel", "Timing", "MODELS", "get_model", "measured_data", "program_kind"]

_DATA = Path(__file__).with_name("measured.json")


@lru_cache(maxsize=1)
def measured_data() -> dict[str, Any]:
    """The measured distributions (``measured.json``)."""
    return dict(json.loads(_DATA.read_text()))


def program_kind(name: str) -> str:
    """The measured program a simulated one stands for (by its name)."""
    n = name.lower()
    if "proxy" in n:
        return "udp_proxy"
    return "ssl_server2" if "server" in n or n.startswith("srv") else "ssl_client2"


def _draw(q: list[float], u: float) -> float:
    """Inverse CDF through 21 quantiles (p0, p5, ..., p100), linear between."""
    pos = u * (len(q) - 1)
    i = min(int(pos), len(q) - 2)
    return q[i] + (q[i + 1] - q[i]) * (pos - i)


@dataclass(frozen=True)
class TimingModel:
    """A named timing recipe.

    ``cpu_scale`` multiplies every measured cost; ``cores`` programs compute
    at once (more wait for a core); with probability ``preempt_p`` a
    computation is stretched by a preemption drawn log-uniformly from
    ``preempt_us`` (a loaded CI machine); legs draw the measured loopback
    latency times ``leg_scale``; ``scheduler`` is ``"random"`` (a seeded
    order among programs ready at the same instant) or ``"fifo"``.
    ``net_ms`` is the (latency, jitter) in ms the simulated ``Network`` adds
    per datagram."""

    name: str
    description: str
    cpu_scale: float = 1.0
    cores: int = 2
    preempt_p: float = 0.0
    preempt_us: tuple[float, float] = (50.0, 20000.0)
    leg_scale: float = 1.0
    scheduler: str = "random"
    net_ms: tuple[float, float] = (0.0, 0.0)

    def bind(self, seed: int | str) -> Timing:
        """The model for one run."""
        return Timing(self, seed)


MODELS: dict[str, TimingModel] = {m.name: m for m in (
    TimingModel("measured", "this machine's measured per-call costs and loopback latency, "
                "2 cores, seeded order among ready programs"),
    TimingModel("loaded", "measured costs x1.5 on 1 core; 10% of computations preempted for "
                "50 us - 20 ms (log-uniform): a CI runner busy with other jobs",
                cpu_scale=1.5, cores=1, preempt_p=0.10),
    TimingModel("jitter", "measured costs; leg latency x20 (0.1-1 ms on a loaded loopback); "
                "the sim Network adds 1 +- 1 ms", leg_scale=20.0, net_ms=(1.0, 1.0)),
)}


def get_model(name: str) -> TimingModel:
    """The model named ``name``; ``ValueError`` listing the names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown timing model {name!r}; have {', '.join(MODELS)}") from None


@dataclass
class Timing:
    """One run's timing: a model, its random stream, and the state the draws
    depend on (cores' free times, each leg's last delivery, the proxy's)."""

    model: TimingModel
    seed: int | str
    rng: random.Random = field(init=False, repr=False)
    _cores: list[int] = field(init=False, repr=False)
    _legs: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _proxy_free: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(f"timing/{self.model.name}/{self.seed}".encode()).digest()
        self.rng = random.Random(digest)
        self._cores = [0] * max(1, self.model.cores)
        self._costs = measured_data()["costs"]

    # -- draws -------------------------------------------------------------------

    def _quantiles(self, program: str, key: str) -> list[float]:
        table = self._costs.get(program, {})
        entry = table.get(key)
        if entry is None and key.startswith("handshake "):
            start = key.split(" ", 1)[1].split(">", 1)[0]
            near = [v for k, v in table.items() if k.startswith(f"handshake {start}>")]
            entry = max(near, key=lambda v: v["n"]) if near else None
        if entry is None:
            entry = table.get("read_into") or {"q": [1.0] * 21}
        return list(entry["q"])

    def _preemption(self) -> float:
        m = self.model
        if m.preempt_p and self.rng.random() < m.preempt_p:
            lo, hi = m.preempt_us
            return math.exp(self.rng.uniform(math.log(lo), math.log(hi)))
        return 0.0

    def cost_us(self, program: str, key: str) -> int:
        """A computation's CPU time (us) for ``program`` (a measured program
        name) and call ``key`` (``handshake 2>12``, ``read_into``, ...)."""
        base = _draw(self._quantiles(program, key), self.rng.random()) * self.model.cpu_scale
        return max(1, int(round(base + self._preemption())))

    def run_us(self, program: str, key: str, now_us: int) -> int:
        """When a computation started at ``now_us`` ends: it waits for a free
        core, then takes ``cost_us``."""
        cost = self.cost_us(program, key)
        i = min(range(len(self._cores)), key=self._cores.__getitem__)
        start = max(now_us, self._cores[i])
        self._cores[i] = start + cost
        return start + cost

    def deliver_us(self, src: str, dst: str, now_us: int) -> int:
        """When a datagram sent at ``now_us`` on leg ``src -> dst`` arrives
        (legs are FIFO, as loopback is)."""
        q = self._costs.get("net", {}).get("leg", {"q": [30.0] * 21})["q"]
        t = now_us + max(1, int(round(_draw(q, self.rng.random()) * self.model.leg_scale)))
        last = self._legs.get((src, dst), 0)
        t = max(t, last + 1)
        self._legs[(src, dst)] = t
        return t

    def proxy_us(self, now_us: int) -> int:
        """When udp_proxy, single-threaded, has handled a datagram that
        reached it at ``now_us``."""
        start = max(now_us, self._proxy_free)
        end = start + self.cost_us("proxy", "handle")
        self._proxy_free = end
        return end

    def proxy_gap_us(self) -> int:
        """The time between two datagrams udp_proxy sends for one message (a
        duplicate, a released delayed one)."""
        return self.cost_us("proxy", "gap")

    def order(self, ready: list[Any]) -> list[Any]:
        """The order in which programs ready at the same instant run."""
        if self.model.scheduler == "fifo" or len(ready) < 2:
            return ready
        out = list(ready)
        self.rng.shuffle(out)
        return out

    def net_delay_ms(self, src: str, dst: str) -> float:
        """The latency the simulated ``Network`` adds to a datagram (ms)."""
        lat, jit = self.model.net_ms
        if not lat and not jit:
            return 0.0
        return max(0.0, lat + self.rng.uniform(-jit, jit))

