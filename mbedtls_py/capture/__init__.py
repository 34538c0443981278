"""Captures that Wireshark and tshark open and decrypt with no setup.

- :mod:`.pcapng`: the file formats (pcapng with a Decryption Secrets Block,
  classic pcap, ``SSLKEYLOGFILE``) and IPv4/IPv6 + UDP framing;
- :mod:`.sim`: the simulated network's trace as packets; ``Capture``
  (``Network.capture(path)``) and :func:`save_trace` (``Trace.to_pcapng``);
- :mod:`.live`: real UDP: what ``serve``'s socket saw and what passed the proxy;
- :mod:`.files`: the file names of the command-line options.

Key export is off by default (see ``Context.keylog``); a capture turns it on
only for the contexts it records.
"""

from .files import capture_paths
from .live import CapturingTransport, LiveCapture, ProxyTap
from .pcapng import (
    Packet,
    read_keylog,
    write_keylog,
    write_pcap,
    write_pcapng,
)
from .sim import Capture, packets_from_trace, save_trace

__all__ = ["Capture", "CapturingTransport", "LiveCapture", "Packet", "ProxyTap",
           "capture_paths", "packets_from_trace", "read_keylog", "save_trace",
           "write_keylog", "write_pcap", "write_pcapng"]
