"""The load balancer's fixture table.

Expected outputs are built by scapy from scratch (checksums computed whole, so they
check the incremental updates of the data path); where they depend on a hash (the SNAT
port, the backend among several) the value comes from :func:`snat_port_of` and
:func:`backend_of`, which use the shared hashes (the kernel tests check those against
the kernel independently). Rows with the same config run in order on one program:
a flow's first packet, the same flow again, then the backend's reply.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..parse import mapped
from ..spec import Fixture
from ..verdict import Verdict
from . import maglev
from .config import LbConfig
from .hashing import flow_hash, flow_key_bytes, snat_hash

__all__ = ["backend_of", "fixtures", "snat_port_of"]

MAC_CLIENT, MAC_LB = "02:00:00:00:01:01", "02:00:00:00:01:fe"
CLIENT4, CLIENT6 = "198.18.1.1", "2001:db8:1::1"
RING = 1021  # a small prime: > 100 x the fixtures' backends, quick to load


def _flow_hash(vip: Any, client: str, cport: int) -> int:
    return flow_hash(
        flow_key_bytes(
            mapped(ipaddress.ip_address(client)), mapped(vip.address), cport, vip.port, vip.proto_number
        )
    )


def snat_port_of(config: LbConfig, vip_index: int, client: str, cport: int) -> int:
    """The SNAT port of a flow when its first choice is free (no other flow holds it)."""
    vip = config.vips[vip_index]
    lo, hi = config.snat_ports
    return lo + snat_hash(_flow_hash(vip, client, cport)) % (hi - lo + 1)


def backend_of(config: LbConfig, vip_index: int, client: str, cport: int) -> int:
    """The position in the VIP's backends of a new flow's backend (every backend present)."""
    vip = config.vips[vip_index]
    pos = vip.table(config.ring_size)[_flow_hash(vip, client, cport) % config.ring_size]
    if pos == maglev.EMPTY:
        raise LookupError(f"{vip} has no backend")
    return pos


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.packet import Raw

    eth = Ether(src=MAC_CLIENT, dst=MAC_LB)
    C, P, D = Verdict.CONTINUE, Verdict.PASS, Verdict.DROP
    rows: list[Fixture] = []

    def syn(src: str, dst: str, sport: int, dport: int, **ip: Any) -> Any:
        return IP(src=src, dst=dst, id=7, ttl=61, **ip) / TCP(
            sport=sport, dport=dport, flags="S", seq=1000, window=64240, options=[("MSS", 1460)]
        )

    # --- no VIP at all: everything continues ---
    rows += [
        Fixture("no VIP configured: TCP continues", eth / syn(CLIENT4, "198.18.100.1", 40000, 80), C),
        Fixture("no VIP configured: UDP/IPv6 continues", eth / IPv6(src=CLIENT6) / UDP(dport=53), C),
    ]

    # --- full-NAT, IPv4: a TCP VIP and a UDP VIP ---
    nat4 = LbConfig.model_validate(
        {
            "ring_size": RING,
            "snat_ipv4": "198.18.10.1",
            "snat_ports": [20000, 20999],
            "vips": [
                {
                    "address": "198.18.100.1",
                    "port": 80,
                    "backends": [{"address": "198.18.10.11", "port": 8080}],
                },
                {
                    "address": "198.18.100.1",
                    "port": 53,
                    "proto": "udp",
                    "backends": [{"address": "198.18.10.12"}],
                },
            ],
        }
    )
    p1 = snat_port_of(nat4, 0, CLIENT4, 40000)
    request = eth / syn(CLIENT4, "198.18.100.1", 40000, 80)
    to_backend = eth / syn("198.18.10.1", "198.18.10.11", p1, 8080)
    reply = (
        Ether(src="02:00:00:00:10:11", dst=MAC_LB)
        / IP(src="198.18.10.11", dst="198.18.10.1", id=9, ttl=64)
        / TCP(sport=8080, dport=p1, flags="SA", seq=5000, ack=1001, window=65160)
    )
    to_client = (
        Ether(src="02:00:00:00:10:11", dst=MAC_LB)
        / IP(src="198.18.100.1", dst=CLIENT4, id=9, ttl=64)
        / TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001, window=65160)
    )
    p2 = snat_port_of(nat4, 1, CLIENT4, 5353)
    p3 = snat_port_of(nat4, 0, CLIENT4, 40001)
    p4 = snat_port_of(nat4, 0, CLIENT4, 40002)
    rows += [
        Fixture(
            "full-NAT: a SYN to the VIP leaves from the SNAT address to the backend",
            request,
            P,
            to_backend,
            nat4,
        ),
        Fixture("full-NAT: the same flow again: same backend, same SNAT port", request, P, to_backend, nat4),
        Fixture("full-NAT: the backend's SYN-ACK goes back as VIP -> client", reply, P, to_client, nat4),
        Fixture(
            "full-NAT: UDP VIP, backend port defaults to the VIP's",
            eth / IP(src=CLIENT4, dst="198.18.100.1") / UDP(sport=5353, dport=53) / b"query",
            P,
            eth / IP(src="198.18.10.1", dst="198.18.10.12") / UDP(sport=p2, dport=53) / b"query",
            nat4,
        ),
        Fixture(
            "full-NAT: UDP without a checksum keeps none",
            eth / IP(src=CLIENT4, dst="198.18.100.1") / UDP(sport=5353, dport=53, chksum=0) / b"query",
            P,
            eth / IP(src="198.18.10.1", dst="198.18.10.12") / UDP(sport=p2, dport=53, chksum=0) / b"query",
            nat4,
        ),
        Fixture(
            "full-NAT: 802.1Q-tagged SYN, the tag stays",
            eth / Dot1Q(vlan=10) / syn(CLIENT4, "198.18.100.1", 40001, 80),
            P,
            eth / Dot1Q(vlan=10) / syn("198.18.10.1", "198.18.10.11", p3, 8080),
            nat4,
        ),
        Fixture(
            "full-NAT: IPv4 options (IHL=8) before TCP",
            eth / syn(CLIENT4, "198.18.100.1", 40002, 80, options=b"\x01" * 12),
            P,
            eth / syn("198.18.10.1", "198.18.10.11", p4, 8080, options=b"\x01" * 12),
            nat4,
        ),
        Fixture(
            "UDP to the TCP VIP's port: not a VIP, continues",
            eth / IP(src=CLIENT4, dst="198.18.100.1") / UDP(sport=1, dport=80),
            C,
            config=nat4,
        ),
        Fixture(
            "TCP to the VIP's address, another port: continues",
            eth / syn(CLIENT4, "198.18.100.1", 40000, 443),
            C,
            config=nat4,
        ),
        Fixture(
            "to the SNAT address, no translation for that port: the node's own traffic, continues",
            eth / IP(src="198.18.10.11", dst="198.18.10.1") / TCP(sport=8080, dport=33000, flags="A"),
            C,
            config=nat4,
        ),
        Fixture(
            "an IPv4 first fragment to the VIP: fragments are never balanced",
            eth
            / IP(src=CLIENT4, dst="198.18.100.1", flags="MF", id=3)
            / UDP(sport=5353, dport=53)
            / (b"x" * 16),
            C,
            config=nat4,
        ),
        Fixture(
            "an IPv4 later fragment to the VIP: continues",
            eth / IP(src=CLIENT4, dst="198.18.100.1", frag=2, id=3, proto=17) / (b"y" * 16),
            C,
            config=nat4,
        ),
        Fixture(
            "ICMP to the VIP: continues",
            eth / IP(src=CLIENT4, dst="198.18.100.1", proto=1) / bytes(8),
            C,
            config=nat4,
        ),
        Fixture("a TCP header cut short: unparsed, continues", bytes(request)[:44], C, config=nat4),
    ]

    # --- full-NAT, IPv6 ---
    nat6 = LbConfig.model_validate(
        {
            "ring_size": RING,
            "snat_ipv6": "2001:db8:10::1",
            "vips": [
                {
                    "address": "2001:db8:100::1",
                    "port": 53,
                    "proto": "udp",
                    "backends": [{"address": "2001:db8:10::11"}],
                }
            ],
        }
    )
    q = snat_port_of(nat6, 0, CLIENT6, 5353)
    rows += [
        Fixture(
            "full-NAT IPv6: UDP to the VIP goes to the backend",
            eth / IPv6(src=CLIENT6, dst="2001:db8:100::1", hlim=63) / UDP(sport=5353, dport=53) / b"query",
            P,
            eth
            / IPv6(src="2001:db8:10::1", dst="2001:db8:10::11", hlim=63)
            / UDP(sport=q, dport=53)
            / b"query",
            nat6,
        ),
        Fixture(
            "full-NAT IPv6: the reply goes back to the client",
            eth / IPv6(src="2001:db8:10::11", dst="2001:db8:10::1") / UDP(sport=53, dport=q) / b"answer",
            P,
            eth / IPv6(src="2001:db8:100::1", dst=CLIENT6) / UDP(sport=53, dport=5353) / b"answer",
            nat6,
        ),
        Fixture(
            "full-NAT IPv6: an atomic fragment (offset 0, no M) is a whole packet: balanced",
            eth
            / IPv6(src=CLIENT6, dst="2001:db8:100::1")
            / IPv6ExtHdrFragment(offset=0, m=0, id=4)
            / UDP(sport=5354, dport=53),
            P,
            eth
            / IPv6(src="2001:db8:10::1", dst="2001:db8:10::11")
            / IPv6ExtHdrFragment(offset=0, m=0, id=4)
            / UDP(sport=snat_port_of(nat6, 0, CLIENT6, 5354), dport=53),
            nat6,
        ),
        Fixture(
            "full-NAT IPv6: a first fragment (M set): fragments are never balanced",
            eth
            / IPv6(src=CLIENT6, dst="2001:db8:100::1")
            / IPv6ExtHdrFragment(offset=0, m=1, id=5)
            / UDP(sport=1, dport=53),
            C,
            config=nat6,
        ),
    ]

    # --- DSR: every pairing of inner and outer family ---
    dsr = LbConfig.model_validate(
        {
            "ring_size": RING,
            "tunnel_ipv4": "198.18.10.1",
            "tunnel_ipv6": "2001:db8:10::1",
            "vips": [
                {
                    "address": "198.18.100.2",
                    "port": 80,
                    "mode": "dsr",
                    "backends": [{"address": "198.18.10.12"}],
                },
                {
                    "address": "2001:db8:100::2",
                    "port": 443,
                    "mode": "dsr",
                    "backends": [{"address": "2001:db8:10::12"}],
                },
                {
                    "address": "198.18.100.3",
                    "port": 443,
                    "mode": "dsr",
                    "backends": [{"address": "2001:db8:10::13"}],
                },
                {
                    "address": "2001:db8:100::3",
                    "port": 80,
                    "mode": "dsr",
                    "backends": [{"address": "198.18.10.14"}],
                },
            ],
        }
    )

    def ipip4(inner: Any, dst: str, proto: int, tos: int = 0) -> Any:
        return IP(src="198.18.10.1", dst=dst, proto=proto, ttl=64, id=0, flags="DF", tos=tos) / Raw(
            bytes(inner)
        )

    def ipip6(inner: Any, dst: str, nh: int, tc: int = 0) -> Any:
        return IPv6(src="2001:db8:10::1", dst=dst, nh=nh, hlim=64, tc=tc) / Raw(bytes(inner))

    in44 = syn(CLIENT4, "198.18.100.2", 40000, 80, tos=0xB8)
    in66 = IPv6(src=CLIENT6, dst="2001:db8:100::2", tc=0x20) / TCP(sport=40000, dport=443, flags="S")
    in46 = syn(CLIENT4, "198.18.100.3", 40000, 443)
    in64 = IPv6(src=CLIENT6, dst="2001:db8:100::3") / TCP(sport=40000, dport=80, flags="S")
    short = IP(src=CLIENT4, dst="198.18.100.2") / TCP(sport=40003, dport=80, flags="A")
    rows += [
        Fixture(
            "DSR: IPv4 in IPv4 (IPIP), DSCP copied",
            eth / in44,
            P,
            eth / ipip4(in44, "198.18.10.12", 4, 0xB8),
            dsr,
        ),
        Fixture(
            "DSR: the same flow again, encapsulated the same",
            eth / in44,
            P,
            eth / ipip4(in44, "198.18.10.12", 4, 0xB8),
            dsr,
        ),
        Fixture("DSR: IPv6 in IPv6", eth / in66, P, eth / ipip6(in66, "2001:db8:10::12", 41, 0x20), dsr),
        Fixture("DSR: IPv4 in IPv6", eth / in46, P, eth / ipip6(in46, "2001:db8:10::13", 4), dsr),
        Fixture("DSR: IPv6 in IPv4", eth / in64, P, eth / ipip4(in64, "198.18.10.14", 41), dsr),
        Fixture(
            "DSR: QinQ tags move to the new front",
            eth / Dot1AD(vlan=20) / Dot1Q(vlan=30) / in44,
            P,
            eth / Dot1AD(vlan=20) / Dot1Q(vlan=30) / ipip4(in44, "198.18.10.12", 4, 0xB8),
            dsr,
        ),
        Fixture(
            "DSR: a padded 60-byte frame: the outer length counts the IP packet, padding stays last",
            bytes(eth / short).ljust(60, b"\0"),
            P,
            bytes(eth / ipip4(short, "198.18.10.12", 4)).ljust(80, b"\0"),
            dsr,
        ),
    ]

    # --- weights and an empty pool ---
    pool = LbConfig.model_validate(
        {
            "ring_size": RING,
            "snat_ipv4": "198.18.10.1",
            "vips": [
                {
                    "address": "198.18.100.4",
                    "port": 80,
                    "backends": [
                        {"address": "198.18.10.21", "weight": 1},
                        {"address": "198.18.10.22", "weight": 0},
                        {"address": "198.18.10.23", "weight": 2},
                    ],
                },
                {
                    "address": "198.18.100.5",
                    "port": 80,
                    "backends": [{"address": "198.18.10.24", "weight": 0}],
                },
            ],
        }
    )
    for cport in (41000, 41001, 41002, 41003):
        chosen = pool.vips[0].backends[backend_of(pool, 0, CLIENT4, cport)]
        port = snat_port_of(pool, 0, CLIENT4, cport)
        rows.append(
            Fixture(
                f"weights 1/0/2: client port {cport} goes to {chosen.address} (never the drained one)",
                eth / syn(CLIENT4, "198.18.100.4", cport, 80),
                P,
                eth / syn("198.18.10.1", str(chosen.address), port, 80),
                pool,
            )
        )
    rows.append(
        Fixture(
            "a VIP whose only backend drains: new flows are dropped",
            eth / syn(CLIENT4, "198.18.100.5", 40000, 80),
            D,
            config=pool,
        )
    )

    # --- egress chain, and running out of SNAT ports ---
    chain = nat4.model_copy(update={"egress": "chain"})
    rows.append(
        Fixture("egress chain: rewritten, then the next VNF (CONTINUE)", request, C, to_backend, chain)
    )
    one_port = LbConfig.model_validate(
        {
            "ring_size": RING,
            "snat_ipv4": "198.18.10.1",
            "snat_ports": [20000, 20000],
            "vips": [{"address": "198.18.100.1", "port": 80, "backends": [{"address": "198.18.10.11"}]}],
        }
    )
    rows += [
        Fixture(
            "one SNAT port: the first flow takes it",
            request,
            P,
            eth / syn("198.18.10.1", "198.18.10.11", 20000, 80),
            one_port,
        ),
        Fixture(
            "one SNAT port: a second flow to the same backend finds none: dropped",
            eth / syn(CLIENT4, "198.18.100.1", 40009, 80),
            D,
            config=one_port,
        ),
    ]
    return rows
