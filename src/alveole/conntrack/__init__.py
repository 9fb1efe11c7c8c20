"""Connection tracking shared by VNFs: the Python side of ``alveole/conntrack.h``.

* :mod:`.states`: states, directions, the TCP state machine, :class:`Timeouts`;
* :mod:`.key`: flow keys in the kernel's order, packet tuples, ICMP error quotes;
* :mod:`.model`: :class:`ConntrackModel`, the reference model VNF models build on;
* :mod:`.table`: reading a table (:func:`connections`, :func:`top`, :func:`pressure`);
* :mod:`.gc`: garbage collection from user space (:func:`collect`, :class:`Collector`);
* :mod:`.probe`: ``ctprobe``, the core alone as a VNF spec for tests.

docs/vnfs/conntrack.md describes the design and the recipe for a stateful VNF.
"""

from .gc import Collector, GcResult, collect
from .key import Inner, Key, Tuple, address, inner_of, key_order, tuple_from, tuple_of
from .model import ConntrackModel, CtEntry, Nat
from .states import Dir, NatKind, State, Timeouts, initial_state, next_state
from .table import (
    CT_MAPS,
    TABLES,
    Connection,
    Pressure,
    connections,
    open_pinned,
    pressure,
    read_entries,
    top,
)

__all__ = [
    "CT_MAPS",
    "TABLES",
    "Collector",
    "Connection",
    "ConntrackModel",
    "CtEntry",
    "Dir",
    "GcResult",
    "Inner",
    "Key",
    "Nat",
    "NatKind",
    "Pressure",
    "State",
    "Timeouts",
    "Tuple",
    "address",
    "collect",
    "connections",
    "initial_state",
    "inner_of",
    "key_order",
    "next_state",
    "open_pinned",
    "pressure",
    "read_entries",
    "top",
    "tuple_from",
    "tuple_of",
]
