"""Frame templates for the generator, built with scapy (valid checksums included).

A template is a frame plus where the generator finds the fields it varies per flow
(source port, low 16 bits of the source address) and the checksums it must fix.
Sizes are on-wire Ethernet sizes *including* the 4-byte FCS, as in the usual
"64-byte packets": a 64-byte frame is 60 bytes handed to the interface.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet, Raw

from ..lab.model import check_allowed

__all__ = ["FCS", "MAX_FRAME", "Template", "from_frame", "from_pcap", "tcp_syn", "udp"]

FCS = 4
MAX_FRAME = 2048  # GEN_MAX_FRAME in gen.bpf.c

DEFAULT_SRC_MAC = "02:a1:0e:00:00:01"
DEFAULT_DST_MAC = "02:a1:0e:00:00:02"


@dataclass(frozen=True)
class Template:
    """A frame and the offsets the generator program needs (0: absent)."""

    frame: bytes
    copy_len: int  # bytes rewritten in every frame (the headers, or the whole frame)
    ip_csum_off: int = 0
    l4_csum_off: int = 0
    sport_off: int = 0
    saddr_off: int = 0
    udp: bool = False

    @property
    def wire_size(self) -> int:
        return len(self.frame) + FCS

    @property
    def sport(self) -> int:
        return int.from_bytes(self.frame[self.sport_off : self.sport_off + 2], "big") if self.sport_off else 0

    @property
    def saddr_low(self) -> int:
        return int.from_bytes(self.frame[self.saddr_off : self.saddr_off + 2], "big") if self.saddr_off else 0

    def as_map_value(self) -> dict[str, object]:
        """The ``struct gen_template`` value (field names from its BTF)."""
        return {
            "len": len(self.frame),
            "copy_len": self.copy_len,
            "ip_csum_off": self.ip_csum_off,
            "l4_csum_off": self.l4_csum_off,
            "sport_off": self.sport_off,
            "saddr_off": self.saddr_off,
            "udp": int(self.udp),
            "data": self.frame,
        }


def _analyse(frame: bytes, copy_len: int | None) -> Template:
    """Offsets of the varied fields and checksums in ``frame``.

    Only unfragmented UDP and TCP over IPv4/IPv6 (after any VLAN tags) can be varied;
    other frames are replayed as they are.
    """
    if len(frame) > MAX_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes exceeds the generator's {MAX_FRAME}")
    pkt = Ether(frame)
    l3 = 14
    node = pkt.payload
    while isinstance(node, Dot1Q):
        l3 += 4
        node = node.payload
    fields: dict[str, int] = {}
    headers = l3
    l4_layer: Packet | None = None
    if isinstance(node, IP) and node.frag == 0 and not node.flags.MF:
        l4, l4_layer = l3 + node.ihl * 4, node.payload
        fields = {"ip_csum_off": l3 + 10, "saddr_off": l3 + 14}
    elif isinstance(node, IPv6):  # with extension headers the next layer is not UDP/TCP
        l4, l4_layer = l3 + 40, node.payload
        fields = {"saddr_off": l3 + 22}
    if isinstance(l4_layer, UDP):
        fields.update(sport_off=l4, l4_csum_off=l4 + 6)
        headers = l4 + 8
    elif isinstance(l4_layer, TCP):
        fields.update(sport_off=l4, l4_csum_off=l4 + 16)
        headers = l4 + max(l4_layer.dataofs or 5, 5) * 4
    else:
        fields = {}
    return Template(
        frame=frame,
        copy_len=min(len(frame), copy_len if copy_len is not None else headers),
        udp=isinstance(l4_layer, UDP),
        **fields,
    )


def _build(l3: Packet, size: int, src_mac: str, dst_mac: str, vlan: int | None) -> Template:
    eth = Ether(src=src_mac, dst=dst_mac)
    head = eth / Dot1Q(vlan=vlan) / l3 if vlan is not None else eth / l3
    data_len = size - FCS
    pad = data_len - len(head)
    if pad < 0:
        raise ValueError(f"{size}-byte frames cannot hold these headers ({len(head) + FCS} bytes needed)")
    pkt = head / Raw(bytes(pad)) if pad else head
    frame = bytes(pkt)  # scapy fills lengths and checksums
    return _analyse(frame, None)


def _addresses(src: str, dst: str) -> tuple[str, str]:
    for a in (src, dst):
        check_allowed(ipaddress.ip_address(a))
    if ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
        raise ValueError(f"source {src} and destination {dst} are of different IP versions")
    return src, dst


def _l3(src: str, dst: str, ttl: int) -> Packet:
    if ipaddress.ip_address(src).version == 4:
        return IP(src=src, dst=dst, ttl=ttl)
    return IPv6(src=src, dst=dst, hlim=ttl)


def udp(
    size: int = 64,
    *,
    src: str = "198.18.0.1",
    dst: str = "198.19.0.1",
    sport: int = 1024,
    dport: int = 9,
    src_mac: str = DEFAULT_SRC_MAC,
    dst_mac: str = DEFAULT_DST_MAC,
    ttl: int = 64,
    vlan: int | None = None,
) -> Template:
    """A UDP frame of ``size`` bytes on the wire (IPv4 or IPv6 from the addresses)."""
    src, dst = _addresses(src, dst)
    return _build(_l3(src, dst, ttl) / UDP(sport=sport, dport=dport), size, src_mac, dst_mac, vlan)


def tcp_syn(
    size: int = 64,
    *,
    src: str = "198.18.0.1",
    dst: str = "198.19.0.1",
    sport: int = 1024,
    dport: int = 80,
    src_mac: str = DEFAULT_SRC_MAC,
    dst_mac: str = DEFAULT_DST_MAC,
    ttl: int = 64,
    vlan: int | None = None,
) -> Template:
    """A TCP SYN of ``size`` bytes on the wire."""
    src, dst = _addresses(src, dst)
    syn = TCP(sport=sport, dport=dport, flags="S", seq=1, window=65535)
    return _build(_l3(src, dst, ttl) / syn, size, src_mac, dst_mac, vlan)


def from_frame(frame: bytes) -> Template:
    """A template replaying ``frame`` as it is (rewritten whole in every generated frame)."""
    return _analyse(bytes(frame), len(frame))


def from_pcap(path: str | Path, limit: int | None = None) -> list[Template]:
    """The Ethernet frames of a pcap/pcapng file, in order, as replay templates."""
    from scapy.utils import PcapReader

    out: list[Template] = []
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if limit is not None and len(out) >= limit:
                break
            if not isinstance(pkt, Ether):
                raise ValueError(f"{path}: frame {len(out)} is not Ethernet ({pkt.__class__.__name__})")
            out.append(from_frame(bytes(pkt)))
    if not out:
        raise ValueError(f"{path}: no frames")
    return out
