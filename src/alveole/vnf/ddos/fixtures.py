"""The ddos guard's fixture table: blocklist decisions and SYN sequences on the virtual clock.

SYN groups use ``clock="virtual"``: each SYN that reaches a bucket advances
time by ``clock_step_ns``, so the expected verdicts below are computed by hand
from the bucket rule (``alveole/bucket.h``): with 1000 SYN/s a SYN costs
1 ms, a burst of 2 is 2 ms of credit, and a SYN conforms when
``max(tat, now) + 1 ms - now <= 2 ms``.
"""

from __future__ import annotations

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["fixtures"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
DST4, DST6 = "198.19.0.80", "2001:db8:ffff::80"

C, D = Verdict.CONTINUE, Verdict.DROP


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    eth = Ether(src=MAC_A, dst=MAC_B)

    def udp(src: str, **ip: object) -> object:
        l3 = IPv6(src=src, dst=DST6) if ":" in src else IP(src=src, dst=DST4, **ip)
        return eth / l3 / UDP(sport=4000, dport=53) / b"query"

    def tcp(src: str, flags: str = "S") -> object:
        l3 = IPv6(src=src, dst=DST6) if ":" in src else IP(src=src, dst=DST4)
        return eth / l3 / TCP(sport=40000, dport=80, flags=flags)

    def rows(config: dict | None, *table: tuple[str, object, Verdict]) -> list[Fixture]:
        return [Fixture(desc, pkt, verdict, config=config) for desc, pkt, verdict in table]

    default = rows(
        None,
        ("default: UDP/IPv4 continues", udp("198.18.0.1"), C),
        ("default: a first SYN is within its source's burst", tcp("198.18.0.1"), C),
        ("default: ARP continues", eth / ARP(psrc="198.18.0.1", pdst="198.18.0.2"), C),
    )

    blocklist = {
        "blocklist": [
            "198.18.0.0/24",
            "198.19.7.7/32",
            "198.19.128.0/17",
            "198.18.64.0/20",
            "2001:db8:bad::/48",
            "2001:db8:0:1::7/128",
        ],
        "syn_rate": None,
    }
    blocked = rows(
        blocklist,
        ("/24 listed: 198.18.0.5 dropped", udp("198.18.0.5"), D),
        ("/24 listed: 198.18.1.5 continues", udp("198.18.1.5"), C),
        ("/32 listed: 198.19.7.7 dropped", udp("198.19.7.7"), D),
        ("/32 listed: its neighbour 198.19.7.8 continues", udp("198.19.7.8"), C),
        ("/17 listed: 198.19.200.1 dropped (bits of the /16 node)", udp("198.19.200.1"), D),
        ("/17 listed: 198.19.127.255, just below it, continues", udp("198.19.127.255"), C),
        ("/20 listed: 198.18.79.1, its last /24, dropped", udp("198.18.79.1"), D),
        ("/20 listed: 198.18.80.1, just past it, continues", udp("198.18.80.1"), C),
        ("/48 listed: 2001:db8:bad::1 dropped", udp("2001:db8:bad::1"), D),
        ("/48 listed: 2001:db8:bad:ffff::1 dropped", udp("2001:db8:bad:ffff::1"), D),
        ("/48 listed: 2001:db8:bae::1 continues", udp("2001:db8:bae::1"), C),
        ("/128 listed: 2001:db8:0:1::7 dropped (12 levels deep)", udp("2001:db8:0:1::7"), D),
        ("/128 listed: 2001:db8:0:1::8 continues", udp("2001:db8:0:1::8"), C),
        (
            "blocked source, TCP header cut (IP length 26): unparsed, dropped all the same",
            eth / IP(src="198.18.0.9", dst=DST4, len=26, proto=6) / bytes(6),
            D,
        ),
        (
            "blocked source, later fragment: dropped",
            eth / IP(src="198.18.0.9", dst=DST4, frag=10, proto=17) / (b"x" * 16),
            D,
        ),
        ("blocked source in an 802.1Q tag: dropped", eth / Dot1Q(vlan=7) / udp("198.18.0.9")[1], D),
        (
            "blocked destination, source not listed: continues",
            eth / IP(src="198.18.1.1", dst="198.18.0.1") / UDP(),
            C,
        ),
        ("ARP from a blocked address: not IP, continues", eth / ARP(psrc="198.18.0.1", pdst="198.18.0.2"), C),
        (
            "IPv4 IHL=4 from a blocked address: no header read, continues (the stack drops it)",
            bytes(eth / IP(src="198.18.0.1", dst=DST4, ihl=4) / UDP()),
            C,
        ),
    )

    whole = rows(
        {"blocklist": ["198.18.0.0/15", "2001:db8::/32"], "syn_rate": None},
        ("/15 listed: expanded to two /16 nodes, 198.19.255.254 dropped", udp("198.19.255.254"), D),
        ("/32 listed: the IPv6 top level itself, 2001:db8:1:2::3 dropped", udp("2001:db8:1:2::3"), D),
    )

    syn = {"syn_rate": 1000, "syn_burst": 2, "clock": "virtual", "clock_step_ns": 400_000}
    a, b = "198.18.0.1", "198.18.0.2"
    syns = rows(
        syn,
        ("SYN A at 0.4 ms: full bucket, conforms (A owes 1 ms)", tcp(a), C),
        ("SYN A at 0.8 ms: owes 1.6 ms <= 2 ms, conforms", tcp(a), C),
        ("SYN A at 1.2 ms: would owe 2.2 ms, dropped", tcp(a), D),
        ("SYN-ACK from A: not a SYN, no bucket, no clock", tcp(a, "SA"), C),
        ("ACK from A", tcp(a, "A"), C),
        (
            "SYN with TCP options cut: flags not read, continues",
            eth / IP(src=a, dst=DST4) / TCP(flags="S", dataofs=15) / (b"\x01" * 10),
            C,
        ),
        ("SYN B at 1.6 ms: B has its own bucket", tcp(b), C),
        ("SYN A at 2.0 ms: owes 1.4 ms, conforms", tcp(a), C),
        ("SYN A at 2.4 ms: owes exactly 2 ms, conforms", tcp(a), C),
        ("SYN A at 2.8 ms: would owe 2.6 ms, dropped", tcp(a), D),
        ("SYN 2001:db8::1 at 3.2 ms: its /64's bucket", tcp("2001:db8::1"), C),
        ("SYN 2001:db8::2 at 3.6 ms: same /64, owes 1.6 ms", tcp("2001:db8::2"), C),
        ("SYN 2001:db8::3 at 4.0 ms: same /64, would owe 2.2 ms, dropped", tcp("2001:db8::3"), D),
        ("SYN 2001:db8:0:1::1 at 4.4 ms: another /64", tcp("2001:db8:0:1::1"), C),
    )

    per24 = {"syn_rate": 1000, "syn_burst": 1, "syn_prefix_v4": 24, "clock": "virtual"}
    grouped = rows(
        per24,
        ("syn_prefix_v4=24: SYN 198.18.0.1 conforms", tcp("198.18.0.1"), C),
        ("syn_prefix_v4=24: SYN 198.18.0.2 shares its /24's bucket, dropped", tcp("198.18.0.2"), D),
        ("syn_prefix_v4=24: SYN 198.18.1.1, another /24, conforms", tcp("198.18.1.1"), C),
    )

    both = {"blocklist": ["198.18.0.0/24"], "syn_rate": 1000, "syn_burst": 1, "clock": "virtual"}
    mixed = rows(
        both,
        ("SYN from a blocked source: blocklist first, no bucket", tcp("198.18.0.1"), D),
        ("SYN 198.18.1.1 conforms", tcp("198.18.1.1"), C),
        ("SYN 198.18.1.1 again 1 us later: over its rate", tcp("198.18.1.1"), D),
    )
    return default + blocked + whole + syns + grouped + mixed
