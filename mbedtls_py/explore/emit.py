"""Write a class's representative as a standalone, readable pytest file.

For a built-in scenario the test is a timeline on the public API: build the
scenario's parties on a ``Network``, put the faults in as rules (``drop``,
``hold`` by tag, matched by content *and* by the datagram's number on its
direction), run until each trigger (an event, or the next datagram on a
direction), ``release`` or ``inject``, run to the end, assert every party's
codes, completion, delivery and the server's events by kind.  Each line of a
fault ends with ``# fault fN``: delete those lines and the test turns into
another class (it fails).

For a user scenario (``module:function``) the test replays the schedule
through :func:`mbedtls_py.explore.engine.run_schedule` and asserts the same.
"""

from __future__ import annotations

import json
from typing import Any

from .engine import Exploration, OutcomeClass, run_schedule
from .model import schedule_to_json, schedule_words
from .probe import Outcome, code_name
from .scenarios import SCENARIOS

__all__ = ["emit_test"]

_HEADER = '''"""Regression test written by `mbedtls-py explore {spec} --policy {policy} --faults {k}
--emit-test {cid}`: outcome class {cid}{failure}, seen in {count} of {schedules} schedules.

Schedule: {words}.
Outcome:  {codes}.
"""
'''

_HELPERS = '''

def count(party, kind, peer=None):
    """How many events of ``kind`` (with ``peer``) the party has emitted so far."""
    return sum(1 for e in party.events if e.event == kind and (peer is None or e.peer == peer))


def sends(net, src, dst):
    """How many datagrams ``src`` has sent to ``dst`` so far."""
    return sum(1 for e in net.trace if e.kind == "send" and (e.src, e.dst) == (src, dst))


def sent(net, src, dst, index):
    """The bytes of the ``index``-th datagram (from 1) ``src`` sent to ``dst``."""
    datagrams = [e.data for e in net.trace if e.kind == "send" and (e.src, e.dst) == (src, dst)]
    return datagrams[index - 1]


def kinds(server):
    """The server's events by kind."""
    out = {}
    for e in server.events:
        out[e.event] = out.get(e.event, 0) + 1
    return out
'''


def _codes(codes: tuple[int, ...]) -> str:
    return "[" + ", ".join("0" if c == 0 else f"Err.{code_name(c)}" for c in codes) + "]"


def _until(when: dict[str, Any], names: dict[str, str]) -> tuple[str, str]:
    if "event" in when:
        party, kind, peer, nth = when["event"]
        pv = names.get(party, repr(party))
        peer_arg = f", {peer!r}" if peer else ""
        return (f"lambda: count({pv}, {kind!r}{peer_arg}) >= {nth}",
                f"{party}'s {kind}" + (f" ({peer})" if peer else "") + f" #{nth}")
    src, dst, index = when["sent"]
    return (f"lambda: sends(net, {src!r}, {dst!r}) >= {index}",
            f"{src} sends its datagram #{index} to {dst}")


def _asserts(outcome: Outcome, names: dict[str, str], server: str) -> list[str]:
    lines = []
    for name, codes, completed, delivered in outcome.sides:
        var = names[name]
        if name == server:
            errors = [c for c in codes if c != 0]
            lines.append(f"    assert reported_errors({var}.events) == {_codes(tuple(errors))}")
        else:
            lines.append(f"    assert {var}.outcome() == {{\"codes\": {_codes(codes)}, "
                         f"\"completed\": {completed}, \"delivered\": {delivered}}}")
    for name, counts in outcome.events:
        lines.append(f"    assert kinds({names[name]}) == {dict(counts)!r}")
    return lines


def emit_test(result: Exploration, class_id: int) -> str:
    """The source of a pytest file replaying class ``class_id``'s representative."""
    classes = {c.id: c for c in result.classes}
    if class_id not in classes:
        raise ValueError(f"no class {class_id}; classes are 0..{len(result.classes) - 1}")
    cls: OutcomeClass = classes[class_id]
    spec, policy = result.scenario, result.policy
    header = _HEADER.format(spec=spec, policy=policy, k=result.faults, cid=class_id,
                            failure=" (a failure)" if cls.failure else "", count=cls.count,
                            schedules=result.schedules,
                            words=schedule_words(cls.representative),
                            codes=cls.outcome.codes_words())
    test_name = f"test_explore_{spec.replace('-', '_').replace(':', '_').replace('.', '_')}" \
                f"_{policy}_class_{class_id}"
    doc = f'    """{schedule_words(cls.representative)} -> {cls.outcome.codes_words()}."""'
    scenario = SCENARIOS.get(spec)
    if scenario is None or scenario.build is None or result.timing:
        return _emit_replay(header, test_name, doc, spec, policy, cls, result.timing)
    probe = run_schedule(spec, policy, cls.representative)
    build = scenario.build.__name__
    net_args = "".join(f", {k}={v!r}" for k, v in scenario.net_kwargs.items())
    setup = probe.finished
    server_name = setup.server.name
    names = {server_name: "server"}
    for c in setup.clients:
        names[c.name] = c.name.replace("-", "_")
    out = [header, "from mbedtls_py.bindings.errors import Err",
           "from mbedtls_py.parties import reported_errors",
           f"from mbedtls_py.explore.scenarios import {build}, finish",
           "from mbedtls_py.sim import Network", _HELPERS, "",
           f"def {test_name}():", doc,
           f"    net = Network(seed=0{net_args})",
           f"    setup = {build}(net, {policy!r})",
           f"    server, ({', '.join(names[c.name] for c in setup.clients)},) = "
           f"setup.server, setup.clients", ""]
    by_tag = {f"f{i + 1}": f for i, f in enumerate(cls.representative)}
    for a in probe.actions:
        if a["do"] in ("drop", "hold"):
            key = "" if a["key"] == "any" else f" {a['key']}"
            action = "drop" if a["do"] == "drop" else f"hold {a['fault']}"
            out.append(f"    # {a['fault']}: {by_tag[a['fault']].describe()}")
            out.append(f"    net.rule(\"[{a['fault']}] {a['src']}->{a['dst']}{key} "
                       f"#{a['index']}: {action}\")  # fault {a['fault']}")
    for a in probe.actions:
        if a["do"] not in ("release", "inject"):
            continue
        until, words = _until(a["when"], names)
        tag = a["fault"]
        out.append(f"    # deliver until {words}")
        out.append(f"    assert net.run(until={until}, deadline_ms=120_000).ok  # fault {tag}")
        after = f", after_ms={a['after_ms']:g}" if a["after_ms"] else ""
        if a["do"] == "release":
            out.append(f"    net.release({tag!r}{after})  # fault {tag}")
        else:
            out.append(f"    net.inject({a['src']!r}, {a['dst']!r}, sent(net, {a['src']!r}, "
                       f"{a['dst']!r}, {a['index']}){after})  # fault {tag}: a duplicate")
    out.append("    # deliver the rest: every client to its end, then late datagrams")
    out.append("    finish(net, setup)")
    out.append("")
    out.extend(_asserts(cls.outcome, names, server_name))
    out.append("    setup.close()")
    return "\n".join(out) + "\n"


def _emit_replay(header: str, test_name: str, doc: str, spec: str, policy: str,
                 cls: OutcomeClass, timing: str | None = None) -> str:
    schedule = json.dumps(schedule_to_json(cls.representative), indent=4)
    expected = json.dumps(cls.outcome.to_json(), indent=4, sort_keys=True)
    return "\n".join([
        header,
        "from mbedtls_py.explore.engine import run_schedule",
        "from mbedtls_py.explore.model import schedule_from_json", "",
        f"SCHEDULE = {schedule}", "", f"EXPECTED = {expected}".replace("null", "None")
        .replace("true", "True").replace("false", "False"), "", "",
        f"def {test_name}():", doc,
        f"    probe = run_schedule({spec!r}, {policy!r}, schedule_from_json(SCHEDULE)"
        + (f", timing={timing!r})" if timing else ")"),
        "    assert probe.outcome().to_json() == EXPECTED", ""])
