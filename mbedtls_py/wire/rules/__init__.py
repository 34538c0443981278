"""Impairment rules: which datagrams to touch, and what to do to them.

The same rule language drives the simulated network and the UDP proxy.  A
rule is one line of text::

    [NAME] MATCH: ACTION

for example::

    client->server alert epoch>=1: delay 200ms
    server->client handshake hs=server_hello_done first: drop
    *->server #2: duplicate 3
    client->server appdata: corrupt 2
    [late-close] client->server alert epoch>=1: hold
    server->client: truncate 100
    client->server: replace 15fefd000000000000000000020228

The match and the action are separated by a ``:`` (the last one that is
followed by an action word, so endpoint names such as ``10.0.0.1:4433`` work).
Words are separated by spaces; spaces around ``->`` and around comparison
operators are allowed.  Keywords are case-insensitive; endpoint names are
not.  ``[NAME]`` is optional (followed by a space; no ``[``, ``]`` or ``:``
in it); it names the rule in traces.  The last example replaces the
datagram by a plaintext fatal handshake_failure alert.

MATCH
=====

A list of conditions, all of which must hold.  An empty match (``: drop``)
matches every datagram.

``SRC->DST``
    Direction; if present it must come first.  ``SRC`` and ``DST`` are
    endpoint names (``client``, ``server``, ...); ``*`` matches any
    endpoint.  Without it, datagrams in any direction match.

content type
    ``alert``, ``handshake``, ``application_data`` (or ``appdata``),
    ``change_cipher_spec`` (or ``ccs``), ``heartbeat``, ``tls12_cid`` (or
    ``cid``), ``type=N`` for any other number (or ``type=NAME``), or
    ``any`` (the default).
    The datagram matches when one of its records has this type.

``FIELD OP VALUE``
    A comparison on the *first record of the datagram that has the content
    type* (the first record at all when no content type is given).
    ``OP`` is one of ``==`` (or ``=``), ``!=``, ``>=``, ``<=``, ``>``,
    ``<``; values are decimal or ``0x`` hex.  Fields:

    - ``epoch``: the record's epoch;
    - ``seq``: the record's 48-bit sequence number;
    - ``length`` (or ``len``): the record's length field;
    - ``hs`` (or ``msg_type``): the handshake message type of a plaintext
      (epoch 0) handshake record, by name (``hs=client_hello``,
      ``hs=server_hello_done``, ...) or by number;
    - ``size``: the size of the whole datagram in bytes.

    A comparison on a field the record does not have (``hs`` of an
    encrypted record, for instance) is false, whatever the operator.  So is
    any record comparison when the datagram has no complete record.

``#N`` or ``#OPN``
    The index of the datagram on its direction, counting from 1: ``#3`` is
    the third datagram sent from SRC to DST, ``#>=2`` all but the first.

``first``, ``nth=N``, ``times=N``
    Limits on the datagrams that matched all the conditions above:
    ``first`` acts on the first one only (same as ``times=1``);
    ``nth=N`` acts on the Nth one only; ``times=N`` acts on at most N of
    them (with ``nth``: N of them starting at the Nth).  Without these, a
    rule acts on every matching datagram.

ACTION
======

``delay DURATION``
    Deliver the datagram later; ``DURATION`` is a number with unit ``ms``
    or ``s`` (``delay 200ms``, ``delay 1.5s``).
``drop``
    Do not deliver it.
``duplicate [N] [spacing DURATION]``
    Deliver it and N more copies (default 1), the copies ``spacing`` apart
    (default 0).  N is at most ``MAX_DUPLICATES`` (100): each copy is a
    datagram in flight, so a larger N would only cost memory and time.
``corrupt [BITS]``
    Flip BITS distinct random bits (default 1), with the seeded RNG of the
    network; an empty datagram is left alone.
``replace HEX``
    Deliver these bytes instead (``replace empty`` for an empty datagram).
``inject HEX [before]``
    Deliver a crafted datagram as well, after the matched one (or before).
``hold [TAG]``
    Keep it until the script releases it (by tag, if given).
``truncate SIZE``
    Deliver only its first SIZE bytes.

Invalid text raises :class:`ValueError` whose message quotes the rule,
points at the bad word and lists what is allowed there.

Python API
==========

:func:`parse_rule` turns a line into a :class:`Rule` (a :class:`Match`, an
:class:`Action` and a name); ``str(rule)`` gives the canonical line back
(full content type names, ``=`` for equality, durations in ``ms``), and
``parse_rule(str(rule)) == rule``.  Rules can also be built directly::

    Rule(Match(src="client", dst="server", content_type="alert",
               conditions=["epoch>=1"]), Delay(200))

The network or proxy calls :meth:`Rule.check` once for every datagram, with
its direction, its 1-based index on that direction and its parsed
:class:`~mbedtls_py.wire.records.Datagram`; when it returns true, the network
applies ``rule.action``.  A rule counts what it matched and fired on
(``rule.matched``, ``rule.fired``; ``rule.reset()`` starts over), so a rule
object belongs to one network or proxy.  :meth:`Match.matches` is the same
test without counting and without ``first``/``nth``/``times``.
"""

from __future__ import annotations

from .actions import Action, Corrupt, Delay, Drop, Duplicate, Hold, Inject, Replace, Truncate
from .apply import Verdict, apply, could_match
from .conditions import Condition, Match
from .grammar import FIELDS, MAX_DUPLICATES, OPERATORS, RuleSyntaxError
from .parser import parse_action, parse_match, parse_rule, parse_rules
from .rule import Rule

__all__ = [
    "MAX_DUPLICATES",
    "OPERATORS",
    "FIELDS",
    "Condition",
    "Match",
    "Action",
    "Delay",
    "Drop",
    "Duplicate",
    "Corrupt",
    "Replace",
    "Inject",
    "Hold",
    "Truncate",
    "Rule",
    "RuleSyntaxError",
    "parse_match",
    "parse_action",
    "parse_rule",
    "parse_rules",
    "apply",
    "could_match",
    "Verdict",
]

