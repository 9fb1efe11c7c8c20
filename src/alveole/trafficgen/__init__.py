"""The in-kernel traffic generator (XDP live frames), its frame templates and a receiver.

Usage::

    from alveole.trafficgen import Generator, Receiver, udp

    with Receiver("alvd0", netns="alv-b") as rx, Generator("alvg0", udp(), netns="alv-a", flows=1024) as gen:
        report = gen.send(1_000_000)  # maximum rate; or rate=100_000, or duration=1.0
        arrived = rx.wait_for(report.delivered)  # sent minus tx_dropped
"""

from .generator import GEN_SOURCE, Generator, GenError, SendReport
from .receiver import Receiver
from .templates import FCS, MAX_FRAME, Template, from_frame, from_pcap, tcp_syn, udp

__all__ = [
    "FCS",
    "GEN_SOURCE",
    "MAX_FRAME",
    "GenError",
    "Generator",
    "Receiver",
    "SendReport",
    "Template",
    "from_frame",
    "from_pcap",
    "tcp_syn",
    "udp",
]
