"""The backend side of DSR: ``decap.bpf.c`` loaded, configured and attached, and its reference.

A backend of a DSR VIP receives the client's packet wrapped in an outer IP header
addressed to the backend. :class:`Decapsulator` strips it in XDP for the backend's
tunnel addresses (what an ``ipip``/``ip6tnl`` device would do; this kernel has none).
:func:`decapsulate` says, in Python, what the program does to a frame.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from ...bpf import BpfObject, Link
from ...toolchain import open_source
from ..parse import Layer, ParseStatus, mapped, parse

__all__ = ["DECAP_SOURCE", "Decapsulator", "decapsulate"]

DECAP_SOURCE = Path(__file__).with_name("decap.bpf.c")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addresses(addresses: Iterable[str | Address]) -> list[Address]:
    return [ipaddress.ip_address(a) for a in addresses]


def decapsulate(frame: bytes, addresses: Iterable[str | Address]) -> bytes | None:
    """The frame ``lb_decap`` passes to the stack, or None when it is not a tunnel packet for us."""
    p = parse(frame)
    if p.status != ParseStatus.OK or not p.has(Layer.PROTO) or p.frag or p.l4_proto not in (4, 41):
        return None
    if p.daddr not in {mapped(a) for a in _addresses(addresses)}:
        return None
    outer = p.l4_off - p.l3_off
    if p.l3_off != 14 + 4 * p.vlan_depth or not 20 <= outer <= 512 or p.l4_off + 20 > len(frame):
        return None
    if frame[p.l4_off] >> 4 != (4 if p.l4_proto == 4 else 6):
        return None
    l2 = bytearray(frame[: p.l3_off])
    l2[-2:] = (0x0800 if p.l4_proto == 4 else 0x86DD).to_bytes(2, "big")
    return bytes(l2) + frame[p.l4_off :]


class Decapsulator:
    """``lb_decap`` loaded for ``addresses`` (the backend's own, outer destinations)."""

    def __init__(self, addresses: Iterable[str | Address]) -> None:
        self.addresses = _addresses(addresses)
        self.object: BpfObject = open_source(DECAP_SOURCE, name="lb_decap")
        try:
            self.object.load()
            m = self.object.map("lb_decap_addrs")
            for a in self.addresses:
                m[(mapped(a),)] = 1
        except BaseException:
            self.object.close()
            raise
        self.program = self.object.program("lb_decap_xdp")

    def attach(self, interface: str, netns: str | None = None, mode: str = "native") -> Link:
        """Attach to a backend interface (XDP); close the link to detach."""
        return self.program.attach_xdp(interface, mode=mode, netns=netns)

    def close(self) -> None:
        self.object.close()

    def __enter__(self) -> Decapsulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
