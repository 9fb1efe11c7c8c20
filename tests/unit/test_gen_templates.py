"""Frame templates of the traffic generator: sizes, offsets, checksums (scapy, no root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import wrpcap

from alveole.trafficgen import FCS, from_frame, from_pcap, tcp_syn, udp


def _checksums_ok(frame: bytes) -> bool:
    pkt = Ether(frame)
    l3 = pkt[IP] if IP in pkt else pkt[IPv6]
    l4 = l3.payload
    again = Ether(frame)
    if IP in again:
        del again[IP].chksum
    del again[l4.__class__].chksum
    rebuilt = Ether(bytes(again))
    ok = rebuilt[l4.__class__].chksum == l4.chksum
    if IP in pkt:
        ok = ok and rebuilt[IP].chksum == pkt[IP].chksum
    return ok


@pytest.mark.parametrize("size", [64, 128, 512, 1518])
def test_udp_sizes_are_on_the_wire_with_fcs(size: int) -> None:
    t = udp(size)
    assert len(t.frame) == size - FCS == t.wire_size - FCS
    assert _checksums_ok(t.frame)


def test_ipv4_udp_offsets() -> None:
    t = udp(64, src="198.18.3.4", sport=4242)
    assert (t.ip_csum_off, t.saddr_off, t.sport_off, t.l4_csum_off, t.copy_len) == (24, 28, 34, 40, 42)
    assert t.udp and t.sport == 4242 and t.saddr_low == 0x0304


def test_tcp_syn_and_ipv6() -> None:
    syn = tcp_syn(64)
    pkt = Ether(syn.frame)
    assert pkt[TCP].flags == "S" and syn.l4_csum_off == 14 + 20 + 16 and not syn.udp
    assert _checksums_ok(syn.frame)
    v6 = udp(80, src="2001:db8::1", dst="2001:db8::2")
    assert IPv6 in Ether(v6.frame) and v6.ip_csum_off == 0 and v6.saddr_off == 14 + 22
    assert _checksums_ok(v6.frame)


def test_vlan_tag_shifts_the_offsets() -> None:
    t = udp(68, vlan=10)
    assert Dot1Q in Ether(t.frame) and t.sport_off == 4 + 34


def test_too_small_and_foreign_addresses_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        udp(64, src="2001:db8::1", dst="2001:db8::2")  # 62 bytes of headers + FCS > 64
    with pytest.raises(ValueError, match="outside"):
        udp(64, src="10.0.0.1")


def test_replayed_frames_are_rewritten_whole_and_non_ip_is_not_varied() -> None:
    t = from_frame(udp(100).frame)
    assert t.copy_len == 96 and t.sport_off
    arp = from_frame(bytes(Ether(dst="ff:ff:ff:ff:ff:ff", type=0x0806) / bytes(28)))
    assert arp.sport_off == 0 and arp.saddr_off == 0


def test_pcap_frames_come_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    frames = [Ether(udp(s).frame) for s in (64, 200, 90)]
    wrpcap(str(path), frames)
    ts = from_pcap(path)
    assert [len(t.frame) for t in ts] == [60, 196, 86]
    assert from_pcap(path, limit=2)[1].frame == bytes(frames[1])
    assert isinstance(Ether(ts[2].frame)[UDP], UDP)
