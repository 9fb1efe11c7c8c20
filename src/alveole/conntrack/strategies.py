"""Hypothesis strategies of conversations: packet sequences that exercise a conntrack table.

Random packets seldom belong to the same flow; these do. A conversation is a
few flows (TCP, UDP, ICMP echo, GRE; IPv4 and IPv6; addresses in
198.18.0.0/15 and 2001:db8::/32) and a script of packets over them: either
direction, TCP flags biased towards handshakes, closes and resets, ICMP
errors quoting earlier packets, and damaged or unrelated frames in between.

Imports hypothesis: a test-time dependency.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st

__all__ = ["TCP_FLAGS", "conversations", "icmp_error", "swap"]

MACS = bytes.fromhex("020000000002020000000001")
HOSTS4 = ["198.18.0.1", "198.18.0.2", "198.19.0.1"]
HOSTS6 = ["2001:db8::1", "2001:db8::2"]
PORTS = [53, 80, 443, 1024, 40000, 65535]
# flags as people send them, then anything
TCP_FLAGS = st.one_of(
    st.sampled_from(["S", "SA", "A", "PA", "FA", "F", "R", "RA", "SF"]),
    st.integers(0, 255),
)


def _frame(l3: Any) -> bytes:
    from scapy.layers.inet import IP

    return MACS + (b"\x08\x00" if isinstance(l3, IP) else b"\x86\xdd") + bytes(l3)


@st.composite
def _flow(draw: Any) -> dict[str, Any]:
    family = draw(st.sampled_from([4, 4, 6]))
    hosts = HOSTS4 if family == 4 else HOSTS6
    return {
        "family": family,
        "proto": draw(st.sampled_from(["tcp", "tcp", "udp", "icmp", "gre"])),
        "a": draw(st.sampled_from(hosts)),
        "b": draw(st.sampled_from(hosts)),
        "aport": draw(st.sampled_from(PORTS)),
        "bport": draw(st.sampled_from(PORTS)),
    }


def _packet(flow: dict[str, Any], forward: bool, flags: Any, echo_request: bool) -> Any:
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

    src, dst = (flow["a"], flow["b"]) if forward else (flow["b"], flow["a"])
    sport, dport = (flow["aport"], flow["bport"]) if forward else (flow["bport"], flow["aport"])
    ip = IP(src=src, dst=dst) if flow["family"] == 4 else IPv6(src=src, dst=dst)
    proto = flow["proto"]
    if proto == "tcp":
        return ip / TCP(sport=sport, dport=dport, flags=flags)
    if proto == "udp":
        return ip / UDP(sport=sport, dport=dport) / b"data"
    if proto == "gre":
        return ip / GRE() / bytes(4)
    ident = flow["aport"]
    if flow["family"] == 4:
        return ip / ICMP(type=8 if echo_request else 0, id=ident)
    return ip / (ICMPv6EchoRequest(id=ident) if echo_request else ICMPv6EchoReply(id=ident))


def icmp_error(quoted_frame: bytes, *, cut: int | None = None, by: str | None = None) -> bytes:
    """An ICMP error (port unreachable) about ``quoted_frame``, sent back to its source.

    ``cut``: quote only that many bytes of the IP packet; ``by``: the error's
    source (default: the quoted packet's destination).
    """
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
    from scapy.layers.l2 import Ether

    pkt = Ether(quoted_frame)
    if IP in pkt:
        q = pkt[IP]
        quote = bytes(q)[:cut] if cut else bytes(q)
        return _frame(IP(src=by or q.dst, dst=q.src) / ICMP(type=3, code=3) / quote)
    q6 = pkt[IPv6]
    quote = bytes(q6)[:cut] if cut else bytes(q6)
    return _frame(IPv6(src=by or q6.dst, dst=q6.src) / ICMPv6DestUnreach(code=4) / quote)


def swap(frame: bytes, flags: Any = None) -> bytes:
    """The reply to ``frame``: addresses and ports swapped (echo request -> reply), checksums recomputed."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether

    pkt = Ether(frame)
    ip = pkt[IP] if IP in pkt else pkt[IPv6]
    ip.src, ip.dst = ip.dst, ip.src
    if IP in pkt:
        del ip.chksum
    for layer in (TCP, UDP):
        if layer in pkt:
            pkt[layer].sport, pkt[layer].dport = pkt[layer].dport, pkt[layer].sport
            if flags is not None and layer is TCP:
                pkt[TCP].flags = flags
            if pkt[layer].chksum != 0 or layer is TCP:
                del pkt[layer].chksum
    if ICMP in pkt and pkt[ICMP].type == 8:
        pkt[ICMP].type = 0
        del pkt[ICMP].chksum
    if ICMPv6EchoRequest in pkt:
        req = pkt[ICMPv6EchoRequest]
        ip.remove_payload()
        ip.add_payload(ICMPv6EchoReply(id=req.id, seq=req.seq, data=req.data))
    return bytes(pkt)


@st.composite
def conversations(draw: Any, max_steps: int = 16) -> list[tuple[str, bytes]]:
    """(description, frame) pairs: packets of a few flows, errors about them, noise."""
    from ..vnf.strategies import packets

    flows = draw(st.lists(_flow(), min_size=1, max_size=4))
    out: list[tuple[str, bytes]] = []
    for i in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["pkt"] * 6 + ["error", "noise"]))
        if kind == "noise":
            out.append((f"{i} noise", draw(packets())))
            continue
        if kind == "error" and out:
            j = draw(st.integers(0, len(out) - 1))
            cut = draw(st.sampled_from([None, None, 28, 48, 20]))
            by = draw(st.sampled_from([None, "router"]))
            try:
                v4 = out[j][1][12:14] == b"\x08\x00"
                router = "198.19.255.1" if v4 else "2001:db8:ffff::1"
                frame = icmp_error(out[j][1], cut=cut, by=router if by else None)
            # noise scapy cannot rebuild (a runt frame: struct.error from its Ethernet fields)
            except (IndexError, TypeError, AttributeError, ValueError, OSError, struct.error):
                continue
            out.append((f"{i} error about #{j}", frame))
            continue
        k = draw(st.integers(0, len(flows) - 1))
        forward = draw(st.booleans())
        flags = draw(TCP_FLAGS)
        frame = _frame(_packet(flows[k], forward, flags, echo_request=draw(st.booleans())))
        out.append((f"{i} flow {k} {'a->b' if forward else 'b->a'}", frame))
    return out
